"""Values the chart used to accept that deploy a pod which cannot work (crash-loops, fails its
probes or cannot write its checkpoint): refused at install time naming the key, or, where a
custom image might legitimately hold the file, warned about in the notes."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python.chart import Chart
from helm_python.errors import HelmRenderError, HelmValuesError
from helm_support import CHART_DIR, render


@pytest.mark.parametrize("address", ["127.0.0.1:10142", "localhost:10142", "[::1]:10142"])
def test_a_loopback_listen_address_is_refused(address: str) -> None:
    """The kubelet probes the pod IP: a loopback-only server fails liveness forever."""
    with pytest.raises(HelmRenderError, match=r"config\.web\.listen_address.*loopback"):
        render({"config": {"web": {"listen_address": address}}})


@pytest.mark.parametrize(
    "argument",
    ["--web.listen-address=:9999", "--web.listen-address", "--config.file=/x.yaml"],
)
def test_extra_args_may_not_override_what_the_chart_wires(argument: str) -> None:
    with pytest.raises(HelmRenderError, match=r"extraArgs.*" + argument.partition("=")[0]):
        render({"extraArgs": [argument]})


def test_a_read_only_volume_for_the_checkpoint_is_refused() -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema({"persistence": {"accessModes": ["ReadOnlyMany"]}})
    assert "/persistence/accessModes/0" in str(error.value)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"web": {"config_file": "/etc/web/web.yml"}}, "config.web.config_file"),
        ({"catalog": {"overrides": ["/catalog/extra.yaml"]}}, "config.catalog.overrides[0]"),
        (
            {"sources": [{"type": "files", "paths": ["/data/*.jsonl"]}]},
            "config.sources[0].paths[0]",
        ),
        (
            {
                "sources": [
                    {"type": "log_analytics", "workspace_ids": ["w"], "tls_ca_file": "/ca.pem"}
                ]
            },
            "config.sources[0].tls_ca_file",
        ),
    ],
)
def test_notes_warn_about_files_on_no_mounted_volume(config: dict[str, Any], key: str) -> None:
    notes = render({"config": config}).notes
    assert "WARNING" in notes
    assert key in notes


def test_no_warning_when_the_file_is_on_an_extra_volume() -> None:
    notes = render(
        {
            "config": {"sources": [{"type": "files", "paths": ["/data/in/*.jsonl"]}]},
            "extraVolumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "logs"}}],
            "extraVolumeMounts": [{"name": "data", "mountPath": "/data/in"}],
        }
    ).notes
    assert "config.sources[0].paths[0]" not in notes


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/acs-exporter/",
        "/var/lib/acs-exporter/../etc/state.json",
        "/var/lib/acs-exporter/a/./",
    ],
)
def test_a_state_path_that_is_no_file_on_the_volume_is_refused(path: str) -> None:
    with pytest.raises(HelmRenderError, match=r"config\.state\.path"):
        render({"config": {"state": {"path": path}}})
