"""Generators of the committed artefacts: alert rules (alerts/), dashboards (dashboards/) and the
chart's values schema. Run from the repository root (`make alerts dashboards`); they take metric
names from acs_exporter.definitions.metrics, so a rename reaches every artefact."""
