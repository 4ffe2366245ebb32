"""scripts/demo.sh --quick (the CI-sized main job) against the binaries ctest built: it ends 0 with a comparison
table of the three methods, each job's transfer report (JSON with the task, perplexity and long-context rows; an
HTML page), the exported LoRA adapter's PEFT files, and every process it started gone. Interrupted like Ctrl-C (SIGINT
to its process group) while the jobs run, it stops every process too and exits 130."""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import cluster

DEMO = os.path.join(cluster.SOURCE_DIR, "scripts", "demo.sh")
# The build directory holding the three binaries (build/cli/ftctl -> build).
BIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(cluster.FTCTL_BIN)))
METHODS = ["full", "lora", "qlora"]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose: it has exited and only waits to be reaped by its parent.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def started_pids(out):
    with open(os.path.join(out, "pids")) as f:
        return [(int(line.split()[0]), line.split()[1]) for line in f if line.strip()]


class DemoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ftd-demo-")
        cls.cache = os.path.join(cls.tmp, "cache")

    def run_demo(self, out, **kwargs):
        return subprocess.Popen(["bash", DEMO, "--quick", "--bin-dir", BIN_DIR, "--out", out, "--cache", self.cache],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)

    def assert_all_stopped(self, out):
        pids = started_pids(out)
        self.assertGreaterEqual(len(pids), 3, "ftd and two workers were started")
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid, _ in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual([name for pid, name in pids if alive(pid)], [], "processes the demo left running")

    def test_1_quick_demo_end_to_end(self):
        out = os.path.join(self.tmp, "run")
        started = time.monotonic()
        demo = self.run_demo(out)
        output, _ = demo.communicate(timeout=600)
        print(output[-4000:])
        print("demo --quick: %.0f s" % (time.monotonic() - started))
        self.assertEqual(demo.returncode, 0, output[-6000:])
        self.assert_all_stopped(out)

        table = open(os.path.join(out, "transfer.md")).read()
        for method in METHODS:
            self.assertIn(method, table)
            report = json.load(open(os.path.join(out, "report-%s.json" % method)))
            suites = {c.get("suite") for c in report.get("comparisons", [])}
            self.assertTrue({"BENCHMARK_SUITE_TASK", "BENCHMARK_SUITE_PERPLEXITY",
                             "BENCHMARK_SUITE_LONG_CONTEXT"} <= suites, (method, suites))
            self.assertIn("overallVerdict", report)
            html = open(os.path.join(out, "report-%s.html" % method)).read()
            self.assertTrue(html.lstrip().lower().startswith("<!doctype html"), html[:100])
        adapter = os.path.join(out, "lora-adapter")
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            self.assertTrue(os.path.isfile(os.path.join(adapter, name)), os.listdir(adapter))
        config = json.load(open(os.path.join(adapter, "adapter_config.json")))
        self.assertEqual(config["peft_type"], "LORA")
        self.assertIn("pretrained base model cached", output)

    def test_2_ctrl_c_stops_everything(self):
        # The base model is in the cache from test 1 (or pretrained again if it runs alone): wait for the task jobs.
        out = os.path.join(self.tmp, "interrupted")
        demo = self.run_demo(out, start_new_session=True)
        lines = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("submitted") and "(qlora)" in line:
                break
        self.assertTrue(any("(qlora)" in l for l in lines), "".join(lines)[-4000:])
        time.sleep(2)  # Jobs running on the workers.
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        self.assertEqual(demo.returncode, 130, "".join(lines)[-3000:] + rest[-3000:])
        self.assert_all_stopped(out)


if __name__ == "__main__":
    unittest.main()
