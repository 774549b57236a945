# The two quick-start commands:
#   make run    run the exporter on the built-in simulator (http://127.0.0.1:10142/metrics)
#   make test   install everything the tests need, then lint, type-check and run the whole suite
#
# Both work from a clean clone: they create .venv and install what is missing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KUSTO  := tools/kusto/node_modules/@kusto/language-service-next/package.json
# Grafana's published dashboard types and the generator that turns them into a JSON Schema
GRAFANA_SCHEMA := tools/grafana/node_modules/ts-json-schema-generator/package.json
# Microsoft's Azure Storage emulator: the azure_blob state backend's tests (tests/pipeline/blob/)
AZURITE := tools/azurite/node_modules/azurite/package.json

.PHONY: run test lint typecheck pytest system-deps python-venv node bench chart-schema clean alerts dashboards venv

# A fresh Debian machine has python3 without venv/ensurepip, and no Node.js: install them with apt
# when they are missing and we may (root), as system-deps does for prometheus; else say what to install.
APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

python-venv:
	@if $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then $(APT_INSTALL) python3-venv >/dev/null; \
	else echo "error: $(PYTHON) cannot create a virtualenv: install python3-venv (Debian) first" >&2; exit 1; fi

node:
	@if command -v node >/dev/null && command -v npm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then $(APT_INSTALL) nodejs npm >/dev/null; \
	else echo "error: the tests need Node.js and npm (the Kusto language service): install nodejs and npm" >&2; exit 1; fi

# Only the virtualenv, with the package and its test dependencies installed.
venv: $(STAMP)

$(STAMP): pyproject.toml | python-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/acs-exporter run $(ARGS)

# Debian packages for promtool, amtool and the end-to-end Prometheus. Installed only when missing,
# and only where we may (root with apt-get); elsewhere the tests that need them skip, unless CI=true.
system-deps:
	@if command -v promtool >/dev/null && command -v amtool >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	else echo "note: promtool/amtool missing and not root: their tests will skip (fail under CI=true)"; fi

$(KUSTO): tools/kusto/package.json tools/kusto/package-lock.json | node
	cd tools/kusto && npm ci --no-audit --no-fund --silent
	touch $(KUSTO)

$(GRAFANA_SCHEMA): tools/grafana/package.json tools/grafana/package-lock.json | node
	cd tools/grafana && npm ci --no-audit --no-fund --silent
	touch $(GRAFANA_SCHEMA)

$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json | node
	cd tools/azurite && npm ci --no-audit --no-fund --silent
	touch $(AZURITE)

lint: $(STAMP)
	$(BIN)/ruff check exporter tests bench tools generators
	$(BIN)/ruff format --check exporter tests bench tools generators

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict generators
	$(BIN)/mypy --strict bench

# One worker per core (pytest-xdist). Whole files go to one worker (loadfile): the end-to-end
# modules share one stack per module and their later tests read what the earlier ones waited for.
# PYTEST_ARGS='-n 0' runs serially.
pytest: $(STAMP) $(KUSTO) $(GRAFANA_SCHEMA) $(AZURITE) system-deps
	$(BIN)/pytest -n auto --dist loadfile $(PYTEST_ARGS)

# Regenerate docs/metrics.md's metric tables from acs_exporter.definitions.metrics (a test fails while stale).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m generators.metrics_doc

test: lint typecheck pytest

# Regenerate alerts/acs-exporter.rules.yaml and dashboards/*.json from alerts/thresholds.yaml
# and the chart's templates/_rules.tpl (tests fail while any committed file is stale). The chart
# links thresholds.yaml and the dashboards: no copy to refresh.
alerts: $(STAMP)
	$(BIN)/python -m generators.rules

dashboards: $(STAMP) alerts
	$(BIN)/python -m generators.dashboards

bench: $(STAMP) $(KUSTO) $(AZURITE)
	$(BIN)/python -m bench

# Regenerate the `config.sources` and `prometheusRule.thresholds` parts of the chart's
# values.schema.json from the source settings and thresholds models (a test fails while stale).
chart-schema: $(STAMP)
	$(BIN)/python -m generators.chart_schema

# The Prometheus Operator's CRD schemas for the chart tests (tests/helm/test_chart_render.py):
# an extra prerequisite of pytest, installed from the npm registry by its lock file.
OPERATOR_CRDS := tools/operator-crds/node_modules/@kubernetes-models/prometheus-operator/package.json

$(OPERATOR_CRDS): tools/operator-crds/package.json tools/operator-crds/package-lock.json | node
	cd tools/operator-crds && npm ci --no-audit --no-fund --silent
	touch $(OPERATOR_CRDS)

pytest: $(OPERATOR_CRDS)

clean:
	rm -rf $(VENV) tools/kusto/node_modules tools/grafana/node_modules tools/operator-crds/node_modules .mypy_cache .ruff_cache .pytest_cache
