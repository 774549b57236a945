"""The facts every layer reads, each defined once: the ACS log tables (tables.py) and the metric
families the exporter exposes (metrics.py)."""
