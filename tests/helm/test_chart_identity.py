"""Azure credentials: Workload Identity wiring, or a service principal from an existing Secret."""

from __future__ import annotations

import pytest
from helm_python.errors import HelmRenderError
from helm_support import FULLNAME, render

CLIENT_ID = "00000000-0000-0000-0000-000000000001"
TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
LOG_ANALYTICS = {"sources": [{"type": "log_analytics", "workspace_ids": ["w"]}]}


def test_no_azure_identity_by_default() -> None:
    rendered = render()
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert "azure.workload.identity/use" not in labels
    assert "annotations" not in rendered.one("ServiceAccount")["metadata"]
    assert "env" not in rendered.container


def test_workload_identity_annotates_the_service_account_and_labels_the_pod() -> None:
    rendered = render({"azure": {"workloadIdentity": {"enabled": True, "clientId": CLIENT_ID}}})
    account = rendered.one("ServiceAccount")
    assert account["metadata"]["annotations"] == {"azure.workload.identity/client-id": CLIENT_ID}
    pod = rendered.one("Deployment")["spec"]["template"]
    # The webhook mutates only pods carrying this label (as the string "true").
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == FULLNAME == account["metadata"]["name"]
    # The webhook injects its own projected token volume (audience api://AzureADTokenExchange);
    # the Kubernetes API token stays unmounted.
    assert pod["spec"]["automountServiceAccountToken"] is False
    # The webhook sets AZURE_CLIENT_ID etc.; the chart must not pre-empt it.
    assert "env" not in rendered.container


def test_workload_identity_tenant_annotation() -> None:
    account = render(
        {
            "azure": {
                "workloadIdentity": {"enabled": True, "clientId": CLIENT_ID, "tenantId": TENANT_ID}
            }
        }
    ).one("ServiceAccount")
    assert account["metadata"]["annotations"]["azure.workload.identity/tenant-id"] == TENANT_ID


def test_workload_identity_with_an_existing_service_account() -> None:
    rendered = render(
        {
            "serviceAccount": {"create": False, "name": "acs-reader"},
            "azure": {"workloadIdentity": {"enabled": True}},
        }
    )
    assert "ServiceAccount" not in rendered.kinds()
    pod = rendered.one("Deployment")["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "acs-reader"
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"


def test_workload_identity_needs_a_client_id() -> None:
    with pytest.raises(HelmRenderError, match=r"azure\.workloadIdentity\.clientId is required"):
        render({"azure": {"workloadIdentity": {"enabled": True}}})


def test_service_principal_env_comes_from_the_existing_secret() -> None:
    env = render(
        {"azure": {"servicePrincipal": {"existingSecret": "sp", "clientSecretKey": "password"}}}
    ).env()
    assert env["AZURE_CLIENT_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "sp", "key": "AZURE_CLIENT_ID"}
    }
    assert env["AZURE_TENANT_ID"]["valueFrom"] == {
        "secretKeyRef": {"name": "sp", "key": "AZURE_TENANT_ID"}
    }
    assert env["AZURE_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "sp", "key": "password"}
    }
    for item in env.values():
        assert "value" not in item, "a secret must never be inlined"


def test_workload_identity_and_service_principal_are_exclusive() -> None:
    with pytest.raises(HelmRenderError, match=r"azure\.workloadIdentity\.enabled and azure\."):
        render(
            {
                "azure": {
                    "workloadIdentity": {"enabled": True, "clientId": CLIENT_ID},
                    "servicePrincipal": {"existingSecret": "sp"},
                }
            }
        )


def test_notes_warn_about_log_analytics_without_credentials() -> None:
    assert "Log Analytics Reader" in render({"config": LOG_ANALYTICS}).notes
    with_identity = render(
        {
            "config": LOG_ANALYTICS,
            "azure": {"workloadIdentity": {"enabled": True, "clientId": CLIENT_ID}},
        }
    )
    assert "WARNING" not in with_identity.notes
