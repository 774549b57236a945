"""Generators of the committed artefacts: alert rules (alerts/, and the same rules as the Helm
chart's templates/_rules.tpl), dashboards (dashboards/), docs/metrics.md's tables and the chart's
values schema. Run from the repository root (`make alerts dashboards docs chart-schema`); they
take metric names from acs_exporter.definitions.metrics, so a rename reaches every artefact."""
