"""Addresses to points and points to regions, through a Nominatim-compatible geocoder."""
