"""Done-when 2 and 3 of the coordinator issue: a worker SIGKILLed mid-run (the job restarts on the workers left,
resumes from its last checkpoint and ends with an adapter byte-equal to an uninterrupted run's), and ftd SIGKILLed
mid-run and started again on the same state (nothing lost, the job completes)."""

import json
import os
import unittest

import cluster

STEPS = 60


def checkpoint_steps(c, job):
    checkpoints = json.loads(c.ftctl("checkpoints", job, "-o", "json").stdout).get("checkpoints", [])
    return [int(cp.get("step", 0)) for cp in checkpoints if "/step-" in cp["name"]]


class FaultsTest(unittest.TestCase):
    def setUp(self):
        self.cluster = cluster.Cluster(lease_seconds=2, restart_backoff_seconds=1)
        self.addCleanup(self.cluster.close)
        self.dataset = self.cluster.path("data.jsonl")
        cluster.write_dataset(self.dataset)
        self.spec = cluster.lora_spec(self.dataset, max_steps=STEPS, save_steps=5)

    def export_adapter(self, job):
        out = self.cluster.path("export-" + job.replace("/", "-"))
        self.cluster.ftctl("export", job, "--kind", "adapter", "-d", out)
        return cluster.read_bytes(os.path.join(out, "adapter_model.safetensors"))

    def test_killed_worker_restarts_the_job_from_its_checkpoint(self):
        c = self.cluster
        c.start_ftd()
        for name in ("w1", "w2", "w3"):
            c.start_worker(name)
        c.wait_workers(3)
        job = c.submit(self.spec)
        # Kill a worker holding a rank once a checkpoint is stored and training has moved past it.
        cluster.wait_for(lambda: checkpoint_steps(c, job) and cluster.step(c.job(job)) >= 12,
                         120, "a checkpoint and step 12")
        victim = c.job(job)["placement"][1]["host"]
        c.kill_worker(victim)

        watch = c.ftctl("watch", job, check=False, timeout=300)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        final = c.job(job)
        self.assertGreaterEqual(final.get("restartCount", 0), 1, json.dumps(final))
        self.assertEqual(final["state"], "JOB_STATE_SUCCEEDED")
        events = c.ftctl("logs", job).stdout
        self.assertIn("resuming from jobs/ft-000001/checkpoints/step-", events)

        reference = cluster.standalone_run(c.path("standalone"), self.spec, world_size=2)
        self.assertEqual(self.export_adapter(job),
                         cluster.read_bytes(os.path.join(reference, "adapter_model.safetensors")))

    def test_killed_coordinator_loses_nothing(self):
        c = self.cluster
        c.start_ftd()
        c.start_worker("w1")
        c.start_worker("w2")
        c.wait_workers(2)
        job = c.submit(self.spec)
        cluster.wait_for(lambda: cluster.step(c.job(job)) >= 10, 120, "step 10")
        c.kill_ftd()
        c.start_ftd()
        # The job and its history survived; the workers reconnect and the run completes.
        self.assertIn(c.job(job)["state"], ("JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"))
        watch = c.ftctl("watch", job, check=False, timeout=300)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        final = c.job(job)
        self.assertEqual(final["state"], "JOB_STATE_SUCCEEDED")
        self.assertEqual(cluster.step(final), STEPS)
        listed = json.loads(c.ftctl("list", "-o", "json").stdout)["jobs"]
        self.assertEqual([j["name"] for j in listed], [job])


if __name__ == "__main__":
    unittest.main()
