"""Routekeeper: self-hosted order planning and live tracking with a HyperTrack-compatible API."""

__version__ = "0.1.0"
