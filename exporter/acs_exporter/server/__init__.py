"""The HTTP side: the server behind /metrics, /readyz and the landing page (http) and the
Prometheus web configuration, TLS and basic auth (webconfig)."""
