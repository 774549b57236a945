"""What the chart deploys, asserted on rendered manifests the way a helm-unittest suite would:
security settings, probes, strategy, labels, image, configuration and persistence."""

from __future__ import annotations

import tomllib

import pytest
import yaml
from helm_python.errors import HelmError, HelmRenderError
from helm_support import CHART_DIR, FULLNAME, NAMESPACE, render

from conftest import REPO

PACKAGE_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_default_install_renders_exactly_the_core_objects() -> None:
    assert render().kinds() == [
        "ConfigMap",
        "Deployment",
        "PersistentVolumeClaim",
        "Service",
        "ServiceAccount",
    ]


def test_app_version_is_the_package_version_and_the_default_image_tag() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["appVersion"] == PACKAGE_VERSION
    assert chart["version"] == PACKAGE_VERSION
    # The image the release workflow pushes (docs/releasing.md), at the chart's appVersion.
    assert render().container["image"] == f"ghcr.io/acs-exporter/acs-exporter:{PACKAGE_VERSION}"
    # Chart.yaml names the same owner as the image.
    assert chart["home"] == "https://github.com/acs-exporter/acs-exporter"
    assert chart["home"] in chart["sources"]


def test_image_registry_tag_and_digest() -> None:
    image = {"registry": "registry.example.com", "repository": "team/acs-exporter"}
    assert (
        render({"image": {**image, "tag": "0.2.0"}}).container["image"]
        == "registry.example.com/team/acs-exporter:0.2.0"
    )
    digest = "sha256:" + "a" * 64
    assert (
        render({"image": {**image, "digest": digest}}).container["image"]
        == f"registry.example.com/team/acs-exporter@{digest}"
    )


def test_single_replica_replaced_never_rolled() -> None:
    spec = render().one("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_pod_security_defaults() -> None:
    rendered = render()
    pod = rendered.pod_spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    container = rendered.container["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["runAsNonRoot"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in container


def test_no_service_account_token_is_mounted_by_default() -> None:
    rendered = render()
    assert rendered.pod_spec["automountServiceAccountToken"] is False
    assert rendered.one("ServiceAccount")["automountServiceAccountToken"] is False


def test_resources_are_unset_by_default() -> None:
    assert "resources" not in render().container
    limits = {"limits": {"memory": "256Mi"}}
    assert render({"resources": limits}).container["resources"] == limits


def test_probes_hit_healthz_and_readyz_on_the_metrics_port() -> None:
    container = render().container
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert container["ports"] == [
        {"name": "http-metrics", "containerPort": 10142, "protocol": "TCP"}
    ]


def test_container_port_follows_the_configured_listen_address() -> None:
    rendered = render({"config": {"web": {"listen_address": "[::]:9999"}}})
    assert rendered.container["ports"][0]["containerPort"] == 9999
    service_port = rendered.one("Service")["spec"]["ports"][0]
    assert service_port["targetPort"] == "http-metrics"


def test_service_exposes_http_metrics_on_10142() -> None:
    service = render().one("Service")
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": 10142, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "acs-exporter",
        "app.kubernetes.io/instance": "rel",
    }


def test_recommended_labels_on_every_object() -> None:
    for doc in render().docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "acs-exporter", doc["kind"]
        assert labels["app.kubernetes.io/instance"] == "rel", doc["kind"]
        assert labels["app.kubernetes.io/version"] == PACKAGE_VERSION, doc["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", doc["kind"]
        assert labels["helm.sh/chart"] == f"acs-exporter-{PACKAGE_VERSION}", doc["kind"]
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]


def test_common_labels_and_namespace_override() -> None:
    rendered = render({"commonLabels": {"team": "sre"}, "namespaceOverride": "acs"})
    for doc in rendered.docs:
        assert doc["metadata"]["labels"]["team"] == "sre"
        assert doc["metadata"]["namespace"] == "acs"


def test_config_values_become_the_mounted_config_file() -> None:
    rendered = render({"config": {"log": {"level": "debug"}}})
    config = rendered.config()
    assert config["log"] == {"format": "json", "level": "debug"}
    assert config["state"]["path"] == "/var/lib/acs-exporter/state.json"
    assert config["sources"] == []
    assert rendered.container["args"][:2] == ["run", "--config.file=/etc/acs-exporter/config.yaml"]
    mounts = {mount["name"]: mount for mount in rendered.container["volumeMounts"]}
    assert mounts["config"] == {
        "name": "config",
        "mountPath": "/etc/acs-exporter",
        "readOnly": True,
    }
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == FULLNAME


def test_a_config_change_restarts_the_pod() -> None:
    def checksum(level: str) -> str:
        deployment = render({"config": {"log": {"level": level}}}).one("Deployment")
        value: str = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum("info") != checksum("debug")


def test_existing_config_map_replaces_the_rendered_one() -> None:
    rendered = render({"existingConfigMap": "my-config"})
    assert "ConfigMap" not in rendered.kinds()
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "my-config"


def test_the_checkpoint_lives_on_a_pvc_by_default() -> None:
    rendered = render()
    claim = rendered.one("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "storageClassName" not in claim["spec"]
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["state"] == {"name": "state", "persistentVolumeClaim": {"claimName": FULLNAME}}
    mounts = {mount["name"]: mount["mountPath"] for mount in rendered.container["volumeMounts"]}
    assert mounts["state"] == "/var/lib/acs-exporter"
    # The only other writable path: /tmp, small and in memory of the node.
    assert mounts["tmp"] == "/tmp"
    assert rendered.pod_spec["securityContext"]["fsGroup"] == 10142


@pytest.mark.parametrize(("storage_class", "expected"), [("-", ""), ("managed-csi", "managed-csi")])
def test_storage_class(storage_class: str, expected: str) -> None:
    claim = render({"persistence": {"storageClass": storage_class}}).one("PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == expected


def test_existing_claim_is_used_and_none_created() -> None:
    rendered = render({"persistence": {"existingClaim": "kept-state"}})
    assert "PersistentVolumeClaim" not in rendered.kinds()
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "kept-state"}


def test_without_persistence_the_state_is_in_an_empty_dir_and_notes_say_what_it_costs() -> None:
    rendered = render({"persistence": {"enabled": False}})
    assert "PersistentVolumeClaim" not in rendered.kinds()
    volumes = {volume["name"]: volume for volume in rendered.pod_spec["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    assert "counter reset" in rendered.notes


def test_a_state_path_outside_the_volume_is_refused() -> None:
    with pytest.raises(HelmRenderError, match=r"config\.state\.path.*/var/lib/acs-exporter/"):
        render({"config": {"state": {"path": "/data/state.json"}}})


def test_a_listen_address_without_port_is_refused() -> None:
    # The schema already refuses it; the template's own check backs it up with --skip-schema.
    with pytest.raises(HelmError, match=r"config/web/listen_address"):
        render({"config": {"web": {"listen_address": "0.0.0.0:"}}})


def test_extra_args_env_and_volumes() -> None:
    rendered = render(
        {
            "extraArgs": ["--log.level=debug"],
            "extraEnv": [{"name": "ACS_EXPORTER_METRICS__MAX_SERIES", "value": "500"}],
            "extraVolumes": [{"name": "web", "secret": {"secretName": "web-tls"}}],
            "extraVolumeMounts": [{"name": "web", "mountPath": "/etc/acs-exporter-web"}],
        }
    )
    assert rendered.container["args"][-1] == "--log.level=debug"
    assert rendered.env()["ACS_EXPORTER_METRICS__MAX_SERIES"]["value"] == "500"
    assert {"name": "web", "secret": {"secretName": "web-tls"}} in rendered.pod_spec["volumes"]


def test_notes_tell_how_to_check_it_works() -> None:
    notes = render().notes
    assert f"kubectl -n {NAMESPACE} rollout status deployment/{FULLNAME}" in notes
    assert "/readyz" in notes
    assert "acs_exporter_source_up" in notes
    assert "SIMULATOR" in notes
