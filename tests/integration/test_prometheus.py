"""Done-when 5 of the coordinator issue: a real Prometheus (Debian's package) scrapes ftd and a worker while a job
runs; `promtool check metrics` passes on both endpoints and a query through Prometheus's HTTP API returns the job's
train loss. The server also loads deploy/prometheus's alert rules (the scrape jobs carry deploy's names, which the
rules select on): every group is listed and every rule evaluates without error. Skips with a message where prometheus
or promtool is absent."""

import json
import os
import shutil
import subprocess
import unittest
import urllib.parse
import urllib.request

import cluster


ALERT_RULES = os.path.join(cluster.SOURCE_DIR, "deploy", "prometheus", "rules", "ftd-alerts.yml")


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@unittest.skipUnless(shutil.which("prometheus") and shutil.which("promtool"),
                     "prometheus/promtool not on PATH (Debian package prometheus): not scraped")
class PrometheusTest(unittest.TestCase):
    def setUp(self):
        self.cluster = cluster.Cluster()
        self.addCleanup(self.cluster.close)

    def query(self, port, expression):
        return self.cluster.prometheus_query(port, expression)

    def test_prometheus_scrapes_the_coordinator_and_a_worker(self):
        c = self.cluster
        dataset = c.path("data.jsonl")
        cluster.write_dataset(dataset)
        c.start_ftd()
        c.start_worker("w1", ["--http-listen", "127.0.0.1:0"])
        worker_port = c.worker_http_port("w1")
        c.wait_workers(1)

        prometheus_port = c.start_prometheus([worker_port], rule_files=[ALERT_RULES])

        # A job long enough to be scraped while it runs.
        job = c.submit(cluster.lora_spec(dataset, max_steps=150, save_steps=50, world_size=1))
        cluster.wait_for(lambda: cluster.step(c.job(job)) >= 5, 60, "training to start")
        loss = cluster.wait_for(
            lambda: self.query(prometheus_port, 'ftd_job_train_loss{job_name="%s"}' % job), 60,
            "Prometheus to hold the job's train loss")
        self.assertGreater(float(loss[0]["value"][1]), 0)
        worker_loss = cluster.wait_for(
            lambda: self.query(prometheus_port, 'ftd_worker_rank_train_loss{job_name="%s",rank="0"}' % job), 60,
            "Prometheus to hold the worker's rank loss")
        self.assertGreater(float(worker_loss[0]["value"][1]), 0)
        build_info = cluster.wait_for(lambda: self.query(prometheus_port, "ftd_build_info"), 60,
                                      "Prometheus to hold both binaries' build info")
        self.assertEqual(sorted(s["metric"]["binary"] for s in build_info), ["ftd", "ftd-worker"])
        self.assertTrue(all(s["metric"]["version"] and s["metric"]["revision"] for s in build_info), build_info)
        targets = json.loads(fetch("http://127.0.0.1:%d/api/v1/targets" % prometheus_port))
        self.assertEqual(sorted(t["health"] for t in targets["data"]["activeTargets"]), ["up", "up"])

        # deploy/prometheus's rules: loaded (a file Prometheus cannot parse stops it at start) and evaluated cleanly
        # against the live metrics, one evaluation a second.
        def rules_evaluated():
            groups = json.loads(fetch("http://127.0.0.1:%d/api/v1/rules" % prometheus_port))["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return groups if rules and all(rule["health"] != "unknown" for rule in rules) else None
        groups = cluster.wait_for(rules_evaluated, 30, "Prometheus to evaluate deploy's alert rules")
        self.assertEqual([g["name"] for g in groups], ["ftd-coordinator", "ftd-jobs"])
        rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
        self.assertEqual(sorted(rules), ["FtdCheckpointFailures", "FtdCoordinatorDown", "FtdEarlyStopFired",
                                         "FtdGeneralPerplexityRising", "FtdJobFailed", "FtdNoSchedulingProgress",
                                         "FtdWorkerLost"])
        for name, rule in rules.items():
            self.assertEqual((rule["health"], rule.get("lastError", "")), ("ok", ""), name)

        for port in (c.http_port, worker_port):
            exposition = fetch("http://127.0.0.1:%d/metrics" % port)
            check = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True,
                                   text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        watch = c.ftctl("watch", job, check=False, timeout=300)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        self.assertIn('ftd_coordinator_jobs_finished_total{result="SUCCEEDED"} 1',
                      fetch("http://127.0.0.1:%d/metrics" % c.http_port))
        self.assertIn('ftd_worker_rank_exits_total{result="done"} 1',
                      fetch("http://127.0.0.1:%d/metrics" % worker_port))
        # The worker's own state, through Prometheus: one CPU slot, a heartbeat in the last lease, busy while the
        # job ran.
        self.assertEqual(float(self.query(prometheus_port, 'ftd_worker_devices{kind="cpu"}')[0]["value"][1]), 1)
        self.assertEqual(float(self.query(prometheus_port, 'ftd_worker_devices{kind="cuda"}')[0]["value"][1]), 0)
        age = self.query(prometheus_port, "time() - ftd_worker_last_heartbeat_timestamp_seconds")
        self.assertLess(float(age[0]["value"][1]), 30)
        busy = cluster.wait_for(lambda: self.query(prometheus_port, "ftd_worker_busy_seconds_total > 0"), 30,
                                "Prometheus to hold the worker's busy time")
        self.assertGreater(float(busy[0]["value"][1]), 0)


if __name__ == "__main__":
    unittest.main()
