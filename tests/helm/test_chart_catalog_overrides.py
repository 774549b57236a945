"""Catalog override files on Kubernetes: given inline in values (the chart writes a ConfigMap),
or as keys of an existing ConfigMap or Secret, they are mounted on one read-only volume and
appended, in the order given, to config.catalog.overrides. The exporter, given the pod's files,
loads them and resolves with them; a clash of file names or a malformed item is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python.chart import Chart
from helm_python.errors import HelmRenderError, HelmValuesError
from helm_support import CHART_DIR, FULLNAME, NAMESPACE, Rendered, render
from test_chart_render import assert_installs_cleanly

from acs_exporter.catalog import load_catalog
from acs_exporter.config import load_settings

CATALOG_DIR = "/etc/acs-exporter-catalog"
OURS = {
    "entries": [
        {
            "code": 487,
            "subcode": 999487,
            "category": "ExpectedError",
            "message": "Carrier-specific cancel",
            "advice": "Nothing to do unless it spikes.",
        }
    ]
}
LATER = """\
# a later file wins over an earlier one for the same (domain, code, subcode)
entries:
  - code: 487
    subcode: 999487
    category: UnexpectedServerError
    message: Our SBC cancels on overload
    advice: Page the voice team.
"""
INLINE = [{"name": "ours.yaml", "content": OURS}, {"name": "later.yaml", "content": LATER}]
THREE_WAYS: dict[str, Any] = {
    "config": {"catalog": {"overrides": ["/etc/acs-exporter/baked-in.yaml"]}},
    "catalogOverrides": [
        *INLINE,
        {"configMap": "team-catalog", "key": "team.yaml"},
        {"secret": "private-catalog", "key": "codes.yaml", "name": "private.yaml"},
    ],
}


def volume(rendered: Rendered, name: str) -> dict[str, Any]:
    (found,) = [item for item in rendered.pod_spec["volumes"] if item["name"] == name]
    result: dict[str, Any] = found
    return result


def catalog_config_map(rendered: Rendered) -> dict[str, Any]:
    (found,) = [
        doc for doc in rendered.all("ConfigMap") if doc["metadata"]["name"] == f"{FULLNAME}-catalog"
    ]
    return found


def test_overrides_are_mounted_and_appended_in_order() -> None:
    rendered = render(THREE_WAYS)
    assert rendered.config()["catalog"]["overrides"] == [
        "/etc/acs-exporter/baked-in.yaml",
        f"{CATALOG_DIR}/ours.yaml",
        f"{CATALOG_DIR}/later.yaml",
        f"{CATALOG_DIR}/team.yaml",
        f"{CATALOG_DIR}/private.yaml",
    ]
    mounts = {mount["name"]: mount for mount in rendered.container["volumeMounts"]}
    assert mounts["catalog"] == {"name": "catalog", "mountPath": CATALOG_DIR, "readOnly": True}
    sources = volume(rendered, "catalog")["projected"]["sources"]
    assert sources == [
        {"configMap": {"name": f"{FULLNAME}-catalog", "items": [item("ours.yaml")]}},
        {"configMap": {"name": f"{FULLNAME}-catalog", "items": [item("later.yaml")]}},
        {"configMap": {"name": "team-catalog", "items": [item("team.yaml")]}},
        {"secret": {"name": "private-catalog", "items": [item("codes.yaml", "private.yaml")]}},
    ]


def item(key: str, path: str | None = None) -> dict[str, str]:
    return {"key": key, "path": path or key}


def test_inline_content_goes_into_a_chart_made_config_map() -> None:
    config_map = catalog_config_map(render(THREE_WAYS))
    assert config_map["metadata"]["namespace"] == NAMESPACE
    data = config_map["data"]
    assert set(data) == {"ours.yaml", "later.yaml"}
    assert yaml.safe_load(data["ours.yaml"]) == OURS
    assert data["later.yaml"] == LATER  # text is kept byte for byte (comments, line numbers)


def test_without_overrides_nothing_is_added() -> None:
    rendered = render()
    assert "catalog" not in {item["name"] for item in rendered.pod_spec["volumes"]}
    assert rendered.config()["catalog"] == {"overrides": []}
    assert [doc["metadata"]["name"] for doc in rendered.all("ConfigMap")] == [FULLNAME]
    annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/catalog" not in annotations
    # Only existing objects: no chart-made ConfigMap either.
    existing = render({"catalogOverrides": [{"configMap": "team-catalog", "key": "t.yaml"}]})
    assert [doc["metadata"]["name"] for doc in existing.all("ConfigMap")] == [FULLNAME]


def test_a_change_of_inline_content_restarts_the_pod() -> None:
    def checksum(category: str) -> str:
        content = {"entries": [{**OURS["entries"][0], "category": category}]}
        rendered = render({"catalogOverrides": [{"name": "ours.yaml", "content": content}]})
        annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
        found: str = annotations["checksum/catalog"]
        return found

    assert checksum("ExpectedError") != checksum("UnexpectedServerError")


def test_the_exporter_loads_the_pods_override_files(tmp_path: Path) -> None:
    """The pod's view, relocated under tmp_path: the chart-made files where the volume puts
    them, config.yaml as rendered. The later file wins, as documented."""
    rendered = render({"catalogOverrides": INLINE})
    catalog_dir = tmp_path / CATALOG_DIR.lstrip("/")
    catalog_dir.mkdir(parents=True)
    for name, content in catalog_config_map(rendered)["data"].items():
        (catalog_dir / name).write_text(content)
    config = rendered.config()
    overrides = config["catalog"]["overrides"]
    config["catalog"]["overrides"] = [f"{tmp_path}{path}" for path in overrides]
    config["state"]["path"] = str(tmp_path / "state.json")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    settings = load_settings(config_file)
    catalog = load_catalog(settings.catalog.overrides)
    assert catalog.resolve(487, 999487).category == "UnexpectedServerError"
    (entry,) = catalog.find(487, 999487)
    assert entry.message == "Our SBC cancels on overload"


def test_the_notes_do_not_warn_about_mounted_override_files() -> None:
    notes = render(THREE_WAYS).notes
    assert CATALOG_DIR not in notes
    assert "config.catalog.overrides[0]: /etc/acs-exporter/baked-in.yaml" in notes


def test_a_file_name_used_twice_is_refused_naming_both_items() -> None:
    clash = [
        {"configMap": "team-catalog", "key": "codes.yaml"},
        {"secret": "private-catalog", "key": "codes.yaml"},
    ]
    with pytest.raises(HelmRenderError, match=r"catalogOverrides\[1\].*codes\.yaml.*\[0\]"):
        render({"catalogOverrides": clash})
    renamed = [clash[0], {**clash[1], "name": "private.yaml"}]
    assert render({"catalogOverrides": renamed}).config()["catalog"]["overrides"][-1] == (
        f"{CATALOG_DIR}/private.yaml"
    )


def test_overrides_validate_strictly_and_lint_clean() -> None:
    assert_installs_cleanly(THREE_WAYS)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"name": "ours.yaml"}, "/catalogOverrides/0"),
        ({"content": OURS}, "/catalogOverrides/0"),
        ({"name": "a.yaml", "content": OURS, "configMap": "team"}, "/catalogOverrides/0"),
        ({"configMap": "team"}, "/catalogOverrides/0"),
        ({"configMap": "team", "secret": "private", "key": "a.yaml"}, "/catalogOverrides/0"),
        ({"name": "../etc/passwd", "content": OURS}, "/catalogOverrides/0/name"),
        ({"name": "a.yaml", "content": 5}, "/catalogOverrides/0/content"),
        ({"configMap": "Team_Catalog", "key": "a.yaml"}, "/catalogOverrides/0/configMap"),
        ({"secret": "private", "key": "a.yaml", "mode": 384}, "mode"),
    ],
)
def test_the_schema_refuses_a_malformed_item(overrides: dict[str, Any], named: str) -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError) as error:
        chart.validate_schema({"catalogOverrides": [overrides]})
    assert named in str(error.value)


def test_the_schema_takes_the_three_forms() -> None:
    with Chart.load(CHART_DIR) as chart:
        chart.validate_schema(THREE_WAYS)


def test_with_an_existing_config_map_the_notes_list_the_files_to_add() -> None:
    """The chart cannot edit a ConfigMap it does not make: the files are still mounted, and the
    notes name the paths the user's own catalog.overrides must list."""
    rendered = render({"existingConfigMap": "my-config", **THREE_WAYS})
    assert "ConfigMap" in rendered.kinds()  # the chart-made catalog ConfigMap only
    assert f"  - {CATALOG_DIR}/ours.yaml\n  - {CATALOG_DIR}/later.yaml" in rendered.notes
    assert "list them there yourself" in rendered.notes
    assert "list them there yourself" not in render(THREE_WAYS).notes
