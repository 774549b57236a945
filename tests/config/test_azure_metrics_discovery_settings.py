"""azure_metrics discovery settings (`subscriptions`, `discovery_interval`, `arm_endpoint`):
every mistake is refused with file:line, the key and the value."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from acs_exporter.config import ConfigError, load_settings
from acs_exporter.sources.azure_metrics.settings import AzureMetricsSettings

SUB = "00000000-0000-4000-8000-00000000000a"
RESOURCE = (
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Communication/"
    "communicationServices/acs-one"
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ACS_EXPORTER_"):
            monkeypatch.delenv(key)


def problems(tmp_path: Path, source: str) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(f"sources:\n  - type: azure_metrics\n    region: global\n{source}")
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    return [p.render().removeprefix(f"{path}:") for p in error.value.problems]


def test_subscriptions_alone_are_enough_with_bounded_defaults() -> None:
    settings = AzureMetricsSettings.model_validate(
        {"type": "azure_metrics", "region": "global", "subscriptions": [SUB.upper()]}
    )
    assert settings.resource_ids == []
    assert settings.subscriptions == [SUB.upper()]
    assert settings.discovery_interval == timedelta(minutes=10)
    assert settings.arm_endpoint == "https://management.azure.com"


def test_neither_resource_ids_nor_subscriptions_names_both(tmp_path: Path) -> None:
    assert problems(tmp_path, "    resource_ids: []\n") == [
        "2: sources[0]: list at least one ACS resource id in resource_ids or one subscription "
        "id in subscriptions (its ACS resources are discovered)"
    ]


@pytest.mark.parametrize(
    "value",
    ["not-a-guid", f"/subscriptions/{SUB}", SUB + "0", f"{{{SUB}}}", ""],
)
def test_a_subscription_that_is_not_a_guid_is_named_with_its_value(
    tmp_path: Path, value: str
) -> None:
    # String values are never echoed (one could be a secret): the key and what is expected.
    found = problems(tmp_path, f"    subscriptions: ['{SUB}', '{value}']\n")
    assert len(found) == 1
    assert found[0].startswith("4: sources[0].subscriptions[1]"), found
    assert found[0].endswith(
        ": expected a subscription id (a GUID, e.g. 00000000-0000-0000-0000-000000000000)"
    ), found


def test_a_subscription_listed_twice_is_refused_whatever_its_case(tmp_path: Path) -> None:
    found = problems(tmp_path, f"    subscriptions: ['{SUB}', '{SUB.upper()}']\n")
    assert found == [
        f"2: sources[0]: subscriptions[1] lists {SUB.upper()} again (subscription ids are "
        "case-insensitive): list each once"
    ]


@pytest.mark.parametrize("value", ["30s", "2d"])
def test_discovery_interval_is_bounded(tmp_path: Path, value: str) -> None:
    found = problems(tmp_path, f"    subscriptions: ['{SUB}']\n    discovery_interval: {value}\n")
    assert len(found) == 1
    assert found[0].startswith(f"5: sources[0].discovery_interval = {value!r}"), found
    assert "from 1m to 24h" in found[0], found


@pytest.mark.parametrize("value", ["management.azure.com", "https://user:pw@arm.example/"])
def test_arm_endpoint_must_be_a_base_url(tmp_path: Path, value: str) -> None:
    found = problems(tmp_path, f"    subscriptions: ['{SUB}']\n    arm_endpoint: '{value}'\n")
    assert len(found) == 1
    assert found[0].startswith("5: sources[0].arm_endpoint"), found
    assert "pw" not in found[0]


def test_explicit_ids_and_subscriptions_together() -> None:
    settings = AzureMetricsSettings.model_validate(
        {
            "type": "azure_metrics",
            "region": "global",
            "resource_ids": [RESOURCE],
            "subscriptions": [SUB],
            "discovery_interval": "1h",
            "arm_endpoint": "https://management.usgovcloudapi.net",
        }
    )
    assert settings.discovery_interval == timedelta(hours=1)
    assert settings.arm_endpoint == "https://management.usgovcloudapi.net"
