#!/usr/bin/env python3
"""validate_k8s.py rejects what the API server would refuse or silently drop, naming the path: a misspelled field,
a wrong type, a missing required field, an unknown kind, a field outside the ServiceMonitor schema; and accepts the
forms the API allows (int-or-string ports, numeric quantities). Exits 77 (ctest: skipped) without
python3-kubernetes.
"""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

GOOD = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ftd
spec:
  replicas: 1
  serviceName: ftd
  selector:
    matchLabels: {app.kubernetes.io/name: ftd}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ftd}
    spec:
      containers:
        - name: ftd
          image: ftd/ftd:0.1.0
          ports: [{name: http, containerPort: 9090}]
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          livenessProbe: {httpGet: {path: /healthz, port: 9090}}
          resources: {limits: {cpu: 2, memory: 4Gi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: ftd}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app.kubernetes.io/name: ftd}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ftd}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ftd}}
  endpoints: [{port: http, path: /metrics, interval: 15s}]
"""


class ValidateK8sTest(unittest.TestCase):
    def problems(self, text):
        import validate_k8s

        return validate_k8s.validate_text(text)

    def test_accepts_a_valid_stream(self):
        self.assertEqual(self.problems(GOOD), [])

    def test_misspelled_field_is_named(self):
        problems = self.problems(GOOD.replace("  replicas: 1", "  replica: 1"))
        self.assertEqual(problems, ["StatefulSet/ftd: spec.replica: unknown field (not in V1StatefulSetSpec)"])

    def test_wrong_type_is_named(self):
        problems = self.problems(GOOD.replace("replicas: 1", 'replicas: "one"'))
        self.assertEqual(problems, ["StatefulSet/ftd: spec.replicas: want an int, got str 'one'"])

    def test_nested_errors_carry_list_indices(self):
        text = GOOD.replace("containerPort: 9090}", "containerPort: 9090, hostPortt: 1}").replace(
            "path: /readyz", "path: [/readyz]"
        )
        self.assertEqual(
            self.problems(text),
            [
                "StatefulSet/ftd: spec.template.spec.containers[0].ports[0].hostPortt: unknown field "
                "(not in V1ContainerPort)",
                "StatefulSet/ftd: spec.template.spec.containers[0].readinessProbe.httpGet.path: "
                "want a string, got list ['/readyz']",
            ],
        )

    def test_missing_required_field(self):
        problems = self.problems(GOOD.replace("  serviceName: ftd\n", ""))
        self.assertEqual(problems, ["StatefulSet/ftd: spec.serviceName: required field missing (in V1StatefulSetSpec)"])

    def test_int_or_string_takes_both_but_not_a_bool(self):
        self.assertEqual(self.problems(GOOD.replace("maxUnavailable: 1", "maxUnavailable: 50%")), [])
        self.assertEqual(
            self.problems(GOOD.replace("maxUnavailable: 1", "maxUnavailable: true")),
            ["PodDisruptionBudget/ftd: spec.maxUnavailable: want an int or a string, got bool"],
        )

    def test_unknown_kind_and_custom_resource_schema(self):
        self.assertEqual(
            self.problems("apiVersion: v1\nkind: Podd\nmetadata: {name: x}\n"),
            ["Podd/x: <root>: no schema for v1 Podd (not in the client, not a known custom kind)"],
        )
        problems = self.problems(GOOD.replace("interval: 15s}", "intervall: 15s}"))
        self.assertEqual(len(problems), 1)
        self.assertTrue(problems[0].startswith("ServiceMonitor/ftd: spec.endpoints[0].intervall: unknown field"))
        problems = self.problems(GOOD.replace("  endpoints: [{port: http, path: /metrics, interval: 15s}]\n", ""))
        self.assertEqual(problems, ["ServiceMonitor/ftd: spec.endpoints: required field missing"])

    def test_command_line_exit_codes_and_messages(self):
        with tempfile.TemporaryDirectory() as tmp:
            good = os.path.join(tmp, "good.yaml")
            bad = os.path.join(tmp, "bad.yaml")
            with open(good, "w", encoding="utf-8") as f:
                f.write(GOOD)
            with open(bad, "w", encoding="utf-8") as f:
                f.write(GOOD.replace("  replicas: 1", '  replica: 1\n  replicas: "one"'))
            script = os.path.join(HERE, "validate_k8s.py")
            ok = subprocess.run([sys.executable, script, good], capture_output=True, text=True, timeout=60)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn("3 documents valid", ok.stdout)
            failed = subprocess.run([sys.executable, script, bad], capture_output=True, text=True, timeout=60)
            self.assertEqual(failed.returncode, 1)
            self.assertIn(f"{bad}: StatefulSet/ftd: spec.replica: unknown field", failed.stderr)
            self.assertIn(f"{bad}: StatefulSet/ftd: spec.replicas: want an int, got str 'one'", failed.stderr)
            stdin = subprocess.run([sys.executable, script, "-"], input=GOOD, capture_output=True, text=True,
                                   timeout=60)
            self.assertEqual(stdin.returncode, 0, stdin.stderr)


def main():
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        print("SKIPPED: python3-kubernetes is not installed (scripts/install-deps.sh)")
        return 77
    sys.path.insert(0, HERE)
    program = unittest.main(exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
