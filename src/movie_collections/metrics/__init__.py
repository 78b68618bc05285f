"""GET /metrics: Prometheus metrics for a scraper holding METRICS_TOKEN."""
