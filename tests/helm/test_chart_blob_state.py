"""state.backend azure_blob: two replicas rolled one at a time, a PodDisruptionBudget, no volume.

The checkpoint lives in the blob, so nothing of the pod needs to survive it: no PVC, no state
mount, and the rendered configuration has no state.path (the exporter refuses one with this
backend). The manifests also pass the chart's own schema and the exporter's settings.
"""

from __future__ import annotations

from typing import Any

import pytest
from helm_python.errors import HelmError
from helm_support import render, schema_error

from acs_exporter.config import StateSettings

CONTAINER_URL = "https://acsstate.blob.core.windows.net/acs-exporter"


def _values(**state: Any) -> dict[str, Any]:
    return {
        "config": {
            "state": {
                "backend": "azure_blob",
                "azure_blob": {"container_url": CONTAINER_URL, **state},
            }
        },
        "azure": {
            "workloadIdentity": {
                "enabled": True,
                "clientId": "00000000-0000-4000-8000-000000000001",
            }
        },
    }


def test_blob_backend_renders_two_rolling_replicas_a_budget_and_no_volume() -> None:
    rendered = render(_values())
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert "PersistentVolumeClaim" not in rendered.kinds()
    budget = rendered.one("PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    volumes = {v["name"] for v in rendered.pod_spec["volumes"]}
    assert "state" not in volumes
    mounts = {m["name"] for m in rendered.container["volumeMounts"]}
    assert "state" not in mounts
    config = rendered.config()
    assert "path" not in config["state"]
    StateSettings(**config["state"])  # the exporter accepts what the chart renders
    assert schema_error(_values()) is None


def test_file_backend_stays_one_replica_recreated_with_its_volume() -> None:
    rendered = render()
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "PersistentVolumeClaim" in rendered.kinds()
    assert "PodDisruptionBudget" not in rendered.kinds()


def test_blob_backend_without_a_container_url_is_refused_by_name() -> None:
    values = _values()
    del values["config"]["state"]["azure_blob"]
    with pytest.raises(HelmError, match=r"config\.state\.azure_blob\.container_url"):
        render(values)
