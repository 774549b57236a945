"""Generators of the committed artefacts: alert rules (alerts/, and the same rules as the Helm
chart's templates/_rules.tpl), dashboards (dashboards/) and the chart's values schema. Run from the repository root (`make alerts dashboards`); they take metric
names from acs_exporter.metric_defs, so a rename reaches every artefact."""
