"""Operating the service: health probes, metrics, rate limits."""
