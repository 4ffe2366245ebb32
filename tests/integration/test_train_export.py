"""Done-when 1 of the coordinator issue: ftd + 2 CPU ftd-workers + ftctl train a 2-rank LoRA job to SUCCEEDED and
export it; the adapter equals a standalone 2-rank run of the same spec, byte for byte."""

import json
import os
import unittest

import cluster


class TrainAndExportTest(unittest.TestCase):
    def setUp(self):
        self.cluster = cluster.Cluster()
        self.addCleanup(self.cluster.close)

    def test_two_rank_lora_job_matches_a_standalone_run(self):
        c = self.cluster
        dataset = c.path("data.jsonl")
        cluster.write_dataset(dataset)
        spec = cluster.lora_spec(dataset, max_steps=20, save_steps=5)
        c.start_ftd()
        c.start_worker("w1")
        c.start_worker("w2")
        c.wait_workers(2)
        workers = json.loads(c.ftctl("workers", "-o", "json").stdout)["workers"]
        self.assertEqual(sorted(w["registration"]["host"] for w in workers), ["w1", "w2"])
        job = c.submit(spec)
        self.assertEqual(job, "jobs/ft-000001")

        watch = c.ftctl("watch", job, check=False, timeout=300)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        self.assertIn("SUCCEEDED", watch.stdout)
        final = c.job(job)
        self.assertEqual(final["state"], "JOB_STATE_SUCCEEDED")
        self.assertEqual(cluster.step(final), 20)
        self.assertEqual(len(final.get("placement", [])), 0)  # Ended jobs hold no workers.

        checkpoints = json.loads(c.ftctl("checkpoints", job, "-o", "json").stdout)["checkpoints"]
        names = [cp["name"].rsplit("/", 1)[1] for cp in checkpoints]
        self.assertIn("final", names)
        self.assertIn("step-00000020", names)
        self.assertLessEqual(len([n for n in names if n.startswith("step-")]), 3)  # save_total_limit

        exported = c.path("export")
        c.ftctl("export", job, "--kind", "adapter", "-d", exported)
        self.assertTrue(os.path.exists(os.path.join(exported, "adapter_config.json")))
        provenance = cluster.load_json(os.path.join(exported, "provenance.json"))
        self.assertEqual(provenance["job"], job)
        self.assertEqual(provenance["seed"], 11)
        self.assertEqual(len(provenance["datasets"][0]["sha256"]), 64)
        self.assertIn("model.safetensors", provenance["base_model"]["files"])

        reference = cluster.standalone_run(c.path("standalone"), spec, world_size=2)
        self.assertEqual(cluster.read_bytes(os.path.join(exported, "adapter_model.safetensors")),
                         cluster.read_bytes(os.path.join(reference, "adapter_model.safetensors")))
        self.assertEqual(cluster.load_json(os.path.join(exported, "adapter_config.json")),
                         cluster.load_json(os.path.join(reference, "adapter_config.json")))

        logs = c.ftctl("logs", job).stdout
        self.assertIn("uploaded the final result", logs)
        self.assertIn("[rank 1]", logs)


if __name__ == "__main__":
    unittest.main()
