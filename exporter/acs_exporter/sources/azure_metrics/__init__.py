"""The Azure Monitor platform metrics source (`type: azure_metrics`): Call Automation callback
events and API requests per ACS resource, per minute, through azure-monitor-querymetrics."""
