"""HyperTrack's Places API under ``/places/v1/``, and places as order destinations."""
