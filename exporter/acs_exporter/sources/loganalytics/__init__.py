"""The Azure Monitor Log Analytics source (azure-monitor-query)."""
