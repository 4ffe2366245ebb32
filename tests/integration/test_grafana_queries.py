"""deploy/grafana's dashboards against live metrics: a real Prometheus (Debian's package) scrapes ftd and two workers
while a short LoRA job with guardrail evals and a one-benchmark battery runs to the end; the training-side series
(all-reduce and data-loader seconds, MFU, memory peak, early-stop threshold, benchmark values) hold real values; then
every panel target of every dashboard, its
variables substituted, runs through Prometheus's HTTP API and must return at least one series. Also checks each
dashboard's structure (unique panel ids, the templated data source on every query panel, gridPos). Skips with a
message where prometheus is absent."""

import glob
import json
import os
import shutil
import unittest
import urllib.parse
import urllib.request

import cluster


DASHBOARDS = sorted(glob.glob(os.path.join(cluster.SOURCE_DIR, "deploy", "grafana", "*.json")))
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# What Grafana puts in place of its built-in interval variables; $job_name becomes the test job's name.
INTERVALS = {"$__rate_interval": "30s", "${__rate_interval}": "30s", "$__interval": "5s", "${__interval}": "5s"}


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def load_dashboards():
    boards = {}
    for path in DASHBOARDS:
        with open(path) as f:
            boards[os.path.basename(path)] = json.load(f)
    return boards


def targets(boards):
    """(dashboard file, panel title, expr) for every query of every panel."""
    for name, board in boards.items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield name, panel["title"], target["expr"]


def substitute(expr, job_name):
    for variable, value in INTERVALS.items():
        expr = expr.replace(variable, value)
    return expr.replace("${job_name}", job_name).replace("$job_name", job_name)


class DashboardStructureTest(unittest.TestCase):
    """No cluster needed: the JSON itself."""

    def test_dashboards_are_well_formed(self):
        boards = load_dashboards()
        self.assertEqual(sorted(boards), ["ftd-coordinator.json", "ftd-fleet.json", "ftd-job.json"])
        uids = [board["uid"] for board in boards.values()]
        self.assertEqual(len(set(uids)), len(uids), uids)
        for name, board in boards.items():
            self.assertGreaterEqual(board["schemaVersion"], 36, name)
            variables = {v["name"]: v for v in board["templating"]["list"]}
            self.assertEqual((variables["DS_PROMETHEUS"]["type"], variables["DS_PROMETHEUS"]["query"]),
                             ("datasource", "prometheus"), name)
            ids = [panel["id"] for panel in board["panels"]]
            self.assertEqual(len(set(ids)), len(ids), "%s: duplicate panel ids %s" % (name, ids))
            for panel in board["panels"]:
                where = "%s: panel %r" % (name, panel["title"])
                self.assertTrue({"x", "y", "w", "h"} <= set(panel.get("gridPos", {})), where)
                self.assertLessEqual(panel["gridPos"]["x"] + panel["gridPos"]["w"], 24, where)
                if panel["type"] == "text":  # Markdown, no queries.
                    self.assertNotIn("targets", panel, where)
                    continue
                self.assertIn(panel["type"], ("timeseries", "stat"), where)
                self.assertEqual(panel.get("datasource"), DATASOURCE, where)
                self.assertTrue(panel["targets"], where)
                for target in panel["targets"]:
                    self.assertEqual(target.get("datasource"), DATASOURCE, where)
                    self.assertTrue(target["expr"].strip(), where)
                refs = [target["refId"] for target in panel["targets"]]
                self.assertEqual(len(set(refs)), len(refs), where)
        job_variable = {v["name"]: v for v in boards["ftd-job.json"]["templating"]["list"]}["job_name"]
        self.assertEqual(job_variable["definition"], "label_values(ftd_job_train_loss, job_name)")
        self.assertEqual(job_variable["datasource"], DATASOURCE)


@unittest.skipUnless(shutil.which("prometheus"), "prometheus not on PATH (Debian package prometheus): not queried")
class GrafanaQueriesTest(unittest.TestCase):
    def setUp(self):
        self.cluster = cluster.Cluster()
        self.addCleanup(self.cluster.close)

    def query(self, port, expression):
        return self.cluster.prometheus_query(port, expression)

    def start_prometheus(self, worker_ports):
        # deploy's job names: the coordinator dashboard's "up" panel selects on them.
        return self.cluster.start_prometheus(worker_ports)

    def test_every_panel_query_returns_series(self):
        c = self.cluster
        dataset = c.path("data.jsonl")
        cluster.write_dataset(dataset, examples=40)
        general = c.path("general.txt")
        with open(general, "w") as f:
            f.write(" ".join("General text sentence %d about nothing in particular." % i for i in range(20)) + "\n")
        c.start_ftd()
        for name in ("w1", "w2"):
            c.start_worker(name, ["--http-listen", "127.0.0.1:0"])
        worker_ports = [c.worker_http_port(name) for name in ("w1", "w2")]
        c.wait_workers(2)
        prometheus_port = self.start_prometheus(worker_ports)
        cluster.wait_for(lambda: len(self.query(prometheus_port, "up == 1")) == 3, 30, "all three targets up")

        # Guardrail evals (val_set_size, early_stopping) so the task validation loss and general perplexity exist;
        # a rise limit no tiny run reaches, so the job ends SUCCEEDED and the finished counter appears.
        spec = cluster.lora_spec(dataset, max_steps=800, save_steps=100, world_size=2, name="grafana") + "\n".join([
            "val_set_size: 0.2", "eval_steps: 100", "early_stopping:", "  general_eval_dataset: %s" % general,
            "  general_ppl_max_rise: 100", "  patience: 5",
            # A battery of one benchmark, so the transfer report's gauges exist.
            "benchmarks:", "  - suite: perplexity", "    path: %s" % general, ""])
        job = c.submit(spec)
        watch = c.ftctl("watch", job, check=False, timeout=120)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        # The finished and rank-exit counters are made at the job's end: wait until two scrapes hold each (both
        # workers' exits), so their rates have a value.
        settled = ("count_over_time(ftd_coordinator_jobs_finished_total[30s]) >= 2",
                   "count(count_over_time(ftd_worker_rank_exits_total[30s]) >= 2) == 2")
        cluster.wait_for(lambda: all(self.query(prometheus_port, q) for q in settled), 30,
                         "two scrapes of the finished job and of both ranks' exits")

        # The training-side series carry real values: two ranks all-reduce, rank 0 waits on its data, MFU is a
        # fraction of the CPU's nominal peak, the threshold is the baseline x (1 + 100).
        def value(expr):
            result = self.query(prometheus_port, expr % {"job": 'job_name="%s"' % job})
            self.assertEqual(len(result), 1, expr)
            return float(result[0]["value"][1])
        self.assertGreater(value("ftd_job_allreduce_seconds_total{%(job)s}"), 0)
        self.assertGreater(value("ftd_job_data_wait_seconds_total{%(job)s}"), 0)
        self.assertTrue(0 < value("ftd_job_mfu_ratio{%(job)s}") < 1)
        self.assertGreater(value("ftd_job_device_memory_peak_bytes{%(job)s}"), 100000)
        baseline = float(c.job(job)["progress"]["baseGeneralPerplexity"])
        self.assertAlmostEqual(value("ftd_job_general_perplexity_limit{%(job)s}") / (101 * baseline), 1, places=6)
        self.assertEqual(len(self.query(prometheus_port, 'ftd_job_benchmark_value{job_name="%s"}' % job)), 2 * 3,
                         "base and tuned, of word_perplexity, byte_perplexity and bits_per_byte")

        boards = load_dashboards()
        jobs = [s["metric"]["job_name"] for s in self.query(prometheus_port, "group by (job_name) (ftd_job_train_loss)")]
        self.assertIn(job, jobs, "the job dashboard's job_name variable would not offer the job")
        checked, empty = 0, []
        for board, panel, expr in targets(boards):
            query = substitute(expr, job)
            self.assertNotIn("$", query, "%s / %s: a variable left unsubstituted" % (board, panel))
            if not self.query(prometheus_port, query):
                empty.append("%s / %r: %s" % (board, panel, query))
            checked += 1
        self.assertGreater(checked, 30)
        self.assertEqual(empty, [], "panel queries with no series:\n" + "\n".join(empty))


if __name__ == "__main__":
    unittest.main()
