"""The ``routekeeper`` command line."""
