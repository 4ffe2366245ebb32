#!/usr/bin/env python3
"""deploy/k8s: renders the base and each overlay with `kubectl kustomize`, validates every document against the
Kubernetes API types (validate_k8s.py), and checks what the manifests promise each other and the binaries: ports and
probe paths, the single coordinator, the non-root security context, references to ConfigMaps, Secrets and claims,
$(VAR) substitutions, the ServiceMonitors' selectors, and each overlay's image and GPU settings.

kubectl: $FTD_KUBECTL, else the first on PATH (Debian 12's kubernetes-client, kubectl 1.20, is the reference
renderer; newer ones also work and warn that `bases:` is deprecated). Exits 77 (ctest: skipped) with a message when
kubectl or python3-kubernetes is absent.
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("FTD_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
K8S_DIR = os.path.join(SOURCE_DIR, "deploy", "k8s")
KUSTOMIZATIONS = ("base", "overlays/cpu", "overlays/gpu")
KUBECTL = os.environ.get("FTD_KUBECTL") or shutil.which("kubectl")

GRPC_PORT = 7070  # ftd's defaults (coordinator/app/ftd_app.h); the manifests bind them on 0.0.0.0.
HTTP_PORT = 9090
VAR_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def render(kustomization):
    result = subprocess.run(
        [KUBECTL, "kustomize", os.path.join(K8S_DIR, kustomization)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {kustomization} failed:\n{result.stderr}")
    return result.stdout


def find(docs, kind, name):
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind}/{name} in the rendered manifests")


def pod_spec(docs, name):
    return find(docs, "StatefulSet", name)["spec"]["template"]["spec"]


class RenderedManifests(unittest.TestCase):
    rendered = {}

    @classmethod
    def setUpClass(cls):
        import yaml

        for kustomization in KUSTOMIZATIONS:
            text = render(kustomization)
            cls.rendered[kustomization] = (text, [d for d in yaml.safe_load_all(text) if d is not None])

    def each(self):
        for kustomization in KUSTOMIZATIONS:
            with self.subTest(kustomization=kustomization):
                yield kustomization, self.rendered[kustomization][1]

    def test_every_document_is_valid_against_the_api_types(self):
        import validate_k8s

        version, release = validate_k8s.client_versions()
        print(f"\nkubectl: {KUBECTL}; python3-kubernetes {version} (Kubernetes API {release})", file=sys.stderr)
        for kustomization in KUSTOMIZATIONS:
            with self.subTest(kustomization=kustomization):
                text, docs = self.rendered[kustomization]
                self.assertEqual(validate_k8s.validate_text(text), [])
                kinds = sorted({d["kind"] for d in docs})
                self.assertEqual(
                    kinds,
                    ["ConfigMap", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Secret",
                     "Service", "ServiceMonitor", "StatefulSet"],
                )

    def test_one_coordinator_with_its_store_on_a_claim(self):
        for _, docs in self.each():
            ftd = find(docs, "StatefulSet", "ftd")
            self.assertEqual(ftd["spec"]["replicas"], 1)
            claims = [t["metadata"]["name"] for t in ftd["spec"]["volumeClaimTemplates"]]
            container = ftd["spec"]["template"]["spec"]["containers"][0]
            self.assertIn("--data-dir=/var/lib/ftd", container["args"])
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            self.assertIn(mounts["/var/lib/ftd"], claims)
            # A budget that allows no disruption of the only pod would block node drains forever.
            pdb = find(docs, "PodDisruptionBudget", "ftd")["spec"]
            self.assertNotIn("minAvailable", pdb)
            self.assertGreaterEqual(pdb["maxUnavailable"], 1)

    def test_ports_probes_and_services_agree_with_the_binaries(self):
        for _, docs in self.each():
            for name, grpc in (("ftd", True), ("ftd-worker", False)):
                container = pod_spec(docs, name)["containers"][0]
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                self.assertEqual(ports["http"], HTTP_PORT)
                self.assertIn(f"--http-listen=0.0.0.0:{HTTP_PORT}", container["args"])
                if grpc:
                    self.assertEqual(ports["grpc"], GRPC_PORT)
                    self.assertIn(f"--listen=0.0.0.0:{GRPC_PORT}", container["args"])
                self.assertEqual(container["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http"})
                self.assertEqual(container["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http"})
                service = find(docs, "Service", name)
                self.assertEqual(service["metadata"]["labels"]["app.kubernetes.io/name"], name)
                self.assertEqual(service["spec"]["selector"], {"app.kubernetes.io/name": name})
                service_ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
                self.assertEqual(service_ports["http"], (HTTP_PORT, "http"))
                if grpc:
                    self.assertEqual(service_ports["grpc"], (GRPC_PORT, "grpc"))
            self.assertEqual(find(docs, "Service", "ftd-worker")["spec"]["clusterIP"], "None")
            worker_config = find(docs, "ConfigMap", "ftd-worker-config")["data"]
            self.assertEqual(worker_config["FTD_COORDINATOR"], f"ftd:{GRPC_PORT}")

    def test_every_container_runs_as_non_root_with_a_read_only_root(self):
        for _, docs in self.each():
            for name in ("ftd", "ftd-worker"):
                spec = pod_spec(docs, name)
                self.assertTrue(spec["securityContext"]["runAsNonRoot"])
                self.assertEqual(spec["securityContext"]["runAsUser"], 10001)
                for container in spec["containers"]:
                    context = container["securityContext"]
                    self.assertTrue(context["readOnlyRootFilesystem"])
                    self.assertFalse(context["allowPrivilegeEscalation"])
                    self.assertEqual(context["capabilities"]["drop"], ["ALL"])
                    self.assertIn("limits", container["resources"])
                    self.assertIn("requests", container["resources"])

    def test_references_resolve(self):
        """Every ConfigMap, Secret and claim a pod names exists, and every $(VAR) in args is defined."""
        for _, docs in self.each():
            names = {(d["kind"], d["metadata"]["name"]) for d in docs}
            config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
            for set_name in ("ftd", "ftd-worker"):
                statefulset = find(docs, "StatefulSet", set_name)
                spec = statefulset["spec"]["template"]["spec"]
                templates = {t["metadata"]["name"] for t in statefulset["spec"].get("volumeClaimTemplates", [])}
                volumes = {v["name"] for v in spec.get("volumes", [])} | templates
                for volume in spec.get("volumes", []):
                    if "configMap" in volume:
                        self.assertIn(("ConfigMap", volume["configMap"]["name"]), names)
                    if "secret" in volume:
                        self.assertIn(("Secret", volume["secret"]["secretName"]), names)
                    if "persistentVolumeClaim" in volume:
                        self.assertIn(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]), names)
                for container in spec["containers"]:
                    defined = {e["name"] for e in container.get("env", [])}
                    for source in container.get("envFrom", []):
                        defined |= set(config_maps[source["configMapRef"]["name"]])
                    for env in container.get("env", []):
                        secret = env.get("valueFrom", {}).get("secretKeyRef")
                        if secret:
                            self.assertIn(("Secret", secret["name"]), names)
                    for arg in container.get("args", []):
                        for var in VAR_RE.findall(arg):
                            self.assertIn(var, defined, f"{set_name}: {arg} names an undefined variable")
                    for mount in container.get("volumeMounts", []):
                        self.assertIn(mount["name"], volumes)

    def test_service_monitors_select_the_services_http_port(self):
        # The job names are deploy/prometheus's, which its alert rules select on (up{job="ftd-coordinator"}).
        for _, docs in self.each():
            for name, job in (("ftd", "ftd-coordinator"), ("ftd-worker", "ftd-worker")):
                monitor = find(docs, "ServiceMonitor", name)["spec"]
                self.assertEqual(monitor["selector"]["matchLabels"], {"app.kubernetes.io/name": name})
                self.assertEqual([(e["port"], e["path"]) for e in monitor["endpoints"]], [("http", "/metrics")])
                self.assertEqual(find(docs, "Service", name)["metadata"]["labels"][monitor["jobLabel"]], job)

    def test_overlays_pick_their_image_and_devices(self):
        for kustomization, docs in self.each():
            images = {c["image"] for name in ("ftd", "ftd-worker") for c in pod_spec(docs, name)["containers"]}
            self.assertIn("ftd/ftd:0.1.0", images)
            worker = pod_spec(docs, "ftd-worker")
            container = worker["containers"][0]
            limits = container["resources"]["limits"]
            gpu_config = find(docs, "ConfigMap", "ftd-worker-config")["data"]["FTD_WORKER_GPU"]
            if kustomization == "overlays/gpu":
                self.assertEqual(container["image"], "ftd/ftd-worker:0.1.0-cuda")
                self.assertEqual(limits["nvidia.com/gpu"], "1")
                self.assertEqual(gpu_config, "0")
                self.assertIn("nodeSelector", worker)
                self.assertIn("nvidia.com/gpu", [t["key"] for t in worker["tolerations"]])
                # The patch adds to the base's volumes and mounts, replacing none but the one it names.
                self.assertEqual(len(worker["volumes"]), 4)
            else:
                self.assertEqual(container["image"], "ftd/ftd-worker:0.1.0-cpu")
                self.assertNotIn("nvidia.com/gpu", limits)
                self.assertEqual(gpu_config, "-1")
                self.assertNotIn("nodeSelector", worker)


def main():
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        print("SKIPPED: python3-kubernetes is not installed (scripts/install-deps.sh)")
        return 77
    if KUBECTL is None:
        print("SKIPPED: kubectl not found (Debian 12: apt-get install kubernetes-client; or set FTD_KUBECTL)")
        return 77
    if shutil.which(KUBECTL) is None:
        print(f"FTD_KUBECTL={KUBECTL} is not an executable", file=sys.stderr)
        return 1
    sys.path.insert(0, HERE)
    program = unittest.main(exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
