"""deploy/kubernetes validates offline: the core kinds against the Kubernetes schemas
(kubernetes-validate, strict: an unknown field fails), KEDA's kinds against models generated from
KEDA's CRDs (cloudcoil-models-keda; a field they drop on the round trip is one the CRD lacks), and
the settings the deployment depends on are the ones docs/deploy.md states."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication

from tests.database import REPO_ROOT

MANIFESTS = sorted((REPO_ROOT / "deploy" / "kubernetes").glob("*.yaml"))
KEDA_KINDS = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}
KUBERNETES_VERSION = "1.30.0"


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict:
    (doc,) = [d for d in documents() if d["kind"] == kind]
    return doc


def check_keda(doc: dict) -> None:
    model = KEDA_KINDS[doc["kind"]].model_validate(doc)
    assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc, "a field KEDA's CRD lacks"


def check(doc: dict) -> None:
    if doc["kind"] in KEDA_KINDS:
        check_keda(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_validates_against_its_schema(doc):
    check(doc)


def test_validation_fails_on_a_misspelt_field_of_either_kind():
    deployment = by_kind("Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 300
    with pytest.raises(kubernetes_validate.ValidationError):
        check(deployment)
    scaled = by_kind("ScaledObject")
    scaled["spec"]["minReplicas"] = 0
    with pytest.raises(AssertionError, match="CRD lacks"):
        check(scaled)


def test_the_worker_takes_a_gpu_probes_its_health_port_and_reads_secrets_from_a_secret():
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert ports == {"metrics": 9464}
    assert {n: worker[f"{n}Probe"]["httpGet"]["path"] for n in ("startup", "liveness", "readiness")} == {
        "startup": "/healthz",
        "liveness": "/healthz",
        "readiness": "/readyz",
    }
    assert worker["envFrom"] == [{"secretRef": {"name": "imagen-worker"}}]
    assert not any("KEY" in e["name"] or "PASSWORD" in e["name"] for e in worker["env"])
    # Longer than the lease a render holds (IMAGEN_LEASE_SECONDS, default 60 s) several times over.
    assert pod["terminationGracePeriodSeconds"] >= 300
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_only_the_scraper_reaches_the_worker_s_status_port():
    """Issue 32 (9): the status port listens on 0.0.0.0 in the pod; a NetworkPolicy on the worker's
    pods lets only the scraper in, on that port alone (the kubelet's probes come from the node,
    which a NetworkPolicy always allows)."""
    pod = by_kind("Deployment")["spec"]["template"]
    policy = by_kind("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    (source,) = rule["from"]
    assert source.keys() == {"namespaceSelector", "podSelector"}  # one peer: this namespace's pods AND those


def test_keda_scales_the_worker_from_zero_on_queue_depth():
    spec = by_kind("ScaledObject")["spec"]
    assert spec["scaleTargetRef"]["name"] == by_kind("Deployment")["metadata"]["name"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 8)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "postgresql"
    # The model the Deployment's workers serve: tries of another model never scale it.
    (model,) = [e["value"] for e in by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
                if e["name"] == "IMAGEN_MODEL"]  # fmt: skip
    assert trigger["metadata"]["query"] == f"select imagen.queue_depth('{model}')"
    assert trigger["metadata"]["userName"].startswith("imagen_autoscaler")
    assert trigger["authenticationRef"]["name"] == by_kind("TriggerAuthentication")["metadata"]["name"]
