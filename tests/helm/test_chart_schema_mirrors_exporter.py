"""values.schema.json refuses at `helm install` what the exporter would refuse at start-up (a pod
in CrashLoopBackOff), naming the key; and accepts what the exporter accepts. Each case runs
through both: Helm's schema validation and the exporter's own load_settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.errors import HelmRenderError
from helm_support import render
from helm_support import schema_error as values_schema_error

from acs_exporter.config import ConfigError, load_settings

WORKSPACE = "00000000-0000-0000-0000-000000000001"
LA = {"type": "log_analytics", "workspace_ids": [WORKSPACE]}


def la(**fields: Any) -> dict[str, Any]:
    return {"sources": [{**LA, **fields}]}


def simulator(**fields: Any) -> dict[str, Any]:
    return {"sources": [{"type": "simulator", **fields}]}


def files(**fields: Any) -> dict[str, Any]:
    return {"sources": [{"type": "files", "paths": ["/data/*.jsonl"], **fields}]}


# (config, text the schema's message must hold: the key, as a JSON pointer or a name)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("la-no-workspace-nor-resource", {"sources": [{"type": "log_analytics"}]}, "workspace_ids"),
    ("la-empty-workspaces", la(workspace_ids=[]), "workspace_ids"),
    ("la-no-tables", la(tables=[]), "/config/sources/0/tables"),
    ("la-table-twice", la(tables=["ACSCallSummary", "ACSCallSummary"]), "tables"),
    ("la-unknown-table", la(tables=["CallLogs"]), "/config/sources/0/tables/0"),
    ("la-mode", la(mode="fast"), "/config/sources/0/mode"),
    ("la-zero-poll", la(poll_interval="0s"), "/config/sources/0/poll_interval"),
    ("la-negative-poll", la(poll_interval=-60), "/config/sources/0/poll_interval"),
    ("la-poll-words", la(poll_interval="1 minute"), "/config/sources/0/poll_interval"),
    ("la-zero-window", la(max_window=0), "/config/sources/0/max_window"),
    ("la-negative-lag", la(safety_lag=-1), "/config/sources/0/safety_lag"),
    ("la-negative-lookback", la(initial_lookback=-3600), "/config/sources/0/initial_lookback"),
    (
        "la-short-tg-lookback",
        la(time_generated_lookback=3600),
        "/config/sources/0/time_generated_lookback",
    ),
    ("la-extra-label", la(extra_labels=["call_id"]), "/config/sources/0/extra_labels/0"),
    ("la-workspaces-not-a-list", la(workspace_ids=WORKSPACE), "/config/sources/0/workspace_ids"),
    ("files-no-paths", {"sources": [{"type": "files"}]}, "paths"),
    ("files-empty-paths", files(paths=[]), "/config/sources/0/paths"),
    ("files-format", files(format="xml"), "/config/sources/0/format"),
    ("files-batch", files(batch_records=0), "/config/sources/0/batch_records"),
    ("files-poll-words", files(poll_interval="5 s"), "/config/sources/0/poll_interval"),
    ("sim-rate", simulator(calls_per_second=0), "/config/sources/0/calls_per_second"),
    ("sim-scale", simulator(time_scale=-1), "/config/sources/0/time_scale"),
    ("sim-share", simulator(spike_server_error_share=1.5), "spike_server_error_share"),
    ("sim-scenario", simulator(scenario="chaos"), "/config/sources/0/scenario"),
    ("sim-seed", simulator(seed="abc"), "/config/sources/0/seed"),
    ("sim-spike-start", simulator(spike_start="ten minutes"), "/config/sources/0/spike_start"),
    ("otlp-endpoint", {"otlp": {"endpoint": "collector:4318"}}, "/config/otlp/endpoint"),
    ("otlp-zero-interval", {"otlp": {"interval": "0s"}}, "/config/otlp/interval"),
    ("otlp-negative-timeout", {"otlp": {"timeout": -1}}, "/config/otlp/timeout"),
    ("web-port", {"web": {"listen_address": "0.0.0.0:99999"}}, "/config/web/listen_address"),
    ("label-twice", {"metrics": {"extra_labels": ["call_type"] * 2}}, "extra_labels"),
    # Each duration's range, read from the models: seconds outside it are refused exactly.
    ("la-poll-below-100ms", la(poll_interval=0.05), "/config/sources/0/poll_interval"),
    ("la-poll-over-a-day", la(poll_interval=86401), "/config/sources/0/poll_interval"),
    ("la-window-over-7d", la(max_window=8 * 86400), "/config/sources/0/max_window"),
    ("la-lag-over-a-day", la(safety_lag=86401), "/config/sources/0/safety_lag"),
    ("la-server-timeout-zero", la(server_timeout=0), "/config/sources/0/server_timeout"),
    ("la-server-timeout-hour", la(server_timeout=3600), "/config/sources/0/server_timeout"),
    ("la-tg-lookback-3y", la(time_generated_lookback=3 * 365 * 86400), "time_generated_lookback"),
    ("files-poll-zero", files(poll_interval=0), "/config/sources/0/poll_interval"),
    (
        "files-unterminated-8d",
        files(unterminated_line_timeout=8 * 86400),
        "/config/sources/0/unterminated_line_timeout",
    ),
    ("sim-spike-negative", simulator(spike_start=-1), "/config/sources/0/spike_start"),
    ("sim-spike-over-a-year", simulator(spike_duration=366 * 86400), "spike_duration"),
    # The same for the other sections' durations (the schema around `sources` is hand-written).
    ("otlp-interval-10ms", {"otlp": {"interval": 0.01}}, "/config/otlp/interval"),
    ("otlp-interval-2h", {"otlp": {"interval": 7200}}, "/config/otlp/interval"),
    ("otlp-timeout-10min", {"otlp": {"timeout": 600}}, "/config/otlp/timeout"),
    ("web-timeout-zero", {"web": {"request_timeout": 0}}, "/config/web/request_timeout"),
    ("web-timeout-hour", {"web": {"request_timeout": 3600}}, "/config/web/request_timeout"),
    ("web-telemetry-readyz", {"web": {"telemetry_path": "/readyz"}}, "/config/web/telemetry_path"),
    (
        "web-telemetry-no-slash",
        {"web": {"telemetry_path": "metrics"}},
        "/config/web/telemetry_path",
    ),
    ("web-telemetry-query", {"web": {"telemetry_path": "/m?x=1"}}, "/config/web/telemetry_path"),
]

GOOD_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("web-telemetry-path", {"web": {"telemetry_path": "/acs/metrics"}}),
    ("la-workspace", la()),
    ("la-resource-only", {"sources": [{"type": "log_analytics", "resource_ids": ["/sub/x"]}]}),
    (
        "la-durations",
        la(
            poll_interval="1m30s",
            max_window="PT1H",
            safety_lag=0,
            initial_lookback="2h",
            time_generated_lookback="3d",
            server_timeout=30,
            tables=["ACSCallSummary", "ACSCallAutomationMediaSummary"],
            mode="raw",
        ),
    ),
    ("la-tg-lookback-seconds", la(time_generated_lookback=172800)),
    (
        "la-duration-bounds",
        la(poll_interval=0.1, max_window=7 * 86400, safety_lag=86400, server_timeout=600),
    ),
    ("files-unterminated-zero", files(unterminated_line_timeout=0)),
    ("sim-spike-year", simulator(spike_start=0, spike_duration=365 * 86400)),
    ("otlp-bounds", {"otlp": {"interval": 3600, "timeout": 0.1}}),
    ("web-timeout-bounds", {"web": {"request_timeout": 600}}),
    ("files", files(format="csv", batch_records=10, poll_interval="500ms")),
    ("sim", simulator(seed=1, spike_server_error_share=0, scenario="server-error-spike")),
    ("otlp", {"otlp": {"enabled": True, "endpoint": "https://o.example/v1/metrics"}}),
    ("otlp-seconds", {"otlp": {"interval": 2.5, "timeout": "1s"}}),
    ("web-v6", {"web": {"listen_address": "[::]:65535"}}),
]


def exporter_accepts(config: dict[str, Any], tmp_path: Path) -> str | None:
    """None when the exporter loads `config`; else its error message."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        load_settings(path)
    except ConfigError as error:
        return error.render()
    return None


def schema_error(config: dict[str, Any]) -> str | None:
    return values_schema_error({"config": config})


@pytest.mark.parametrize(
    ("config", "named"),
    [(config, named) for _, config, named in BAD_CONFIGS],
    ids=[name for name, _, _ in BAD_CONFIGS],
)
def test_the_schema_refuses_what_the_exporter_refuses(
    config: dict[str, Any], named: str, tmp_path: Path
) -> None:
    assert exporter_accepts(config, tmp_path) is not None, (
        "the case must be one the exporter refuses"
    )
    error = schema_error(config)
    assert error is not None, "helm install would accept it and the pod would crash-loop"
    assert named in error


@pytest.mark.parametrize(
    "config", [config for _, config in GOOD_CONFIGS], ids=[name for name, _ in GOOD_CONFIGS]
)
def test_the_schema_accepts_what_the_exporter_accepts(
    config: dict[str, Any], tmp_path: Path
) -> None:
    assert exporter_accepts(config, tmp_path) is None
    assert schema_error(config) is None


def test_duplicate_source_names_are_refused_at_render_naming_them(tmp_path: Path) -> None:
    """JSON Schema cannot compare items' fields (with defaults): the template does."""
    config = {"sources": [LA, {**LA, "workspace_ids": ["other"]}]}
    assert exporter_accepts(config, tmp_path) is not None
    with pytest.raises(HelmRenderError, match=r"config\.sources.*log-analytics"):
        render({"config": config})
    named = {"sources": [{**LA, "name": "a"}, {**LA, "name": "b"}]}
    render({"config": named})


@pytest.mark.parametrize("source_type", ["simulator", "files", "log_analytics"])
def test_the_template_knows_each_source_types_default_name(source_type: str) -> None:
    from acs_exporter.config import Settings

    fields: dict[str, dict[str, Any]] = {
        "simulator": {},
        "files": {"paths": ["/x"]},
        "log_analytics": LA,
    }
    entry = {**fields[source_type], "type": source_type}
    default_name = Settings.model_validate({"sources": [entry]}).sources[0].name
    with pytest.raises(HelmRenderError, match=rf'"{default_name}" is already used'):
        render({"config": {"sources": [entry, entry]}})
