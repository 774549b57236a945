"""From the state to what Prometheus and OTLP receive: metric families built from the
definitions (families, end_reason_info), the immutable snapshot (snapshot), the text format
(text), the prometheus_client collector (collector) and the OTLP push (otlp)."""
