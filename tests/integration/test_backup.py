"""Backup and restore (docs/OPERATIONS.md): `ftctl backup DIR` copies a live coordinator's state while a job runs;
the copy, restored as a fresh data dir, serves every job, its events, its checkpoints and its artefacts: the finished
job's adapter exports byte for byte as before. A second backup into the same directory and a relative path are
refused."""

import json
import os
import shutil
import unittest

import cluster


class BackupRestoreTest(unittest.TestCase):
    def setUp(self):
        self.cluster = cluster.Cluster()
        self.addCleanup(self.cluster.close)

    def test_backup_of_a_live_coordinator_restores_every_job_and_checkpoint(self):
        c = self.cluster
        dataset = c.path("data.jsonl")
        cluster.write_dataset(dataset)
        c.start_ftd()
        c.start_worker("w1")
        c.wait_workers(1)
        done = c.submit(cluster.lora_spec(dataset, max_steps=6, save_steps=3, world_size=1, name="done"), "a.yaml")
        watch = c.ftctl("watch", done, check=False, timeout=300)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        before = c.path("export-before")
        c.ftctl("export", done, "-d", before)
        checkpoints_before = json.loads(c.ftctl("checkpoints", done, "-o", "json").stdout)["checkpoints"]
        running = c.submit(cluster.lora_spec(dataset, max_steps=400, save_steps=50, world_size=1, name="running"),
                           "b.yaml")
        cluster.wait_for(lambda: cluster.step(c.job(running)) > 0, 120, "the second job to train")

        backup = c.path("backup")
        out = c.ftctl("backup", backup, "-o", "json")
        response = json.loads(out.stdout)
        self.assertEqual(response["directory"], backup)
        self.assertEqual(int(response["jobs"]), 2)
        self.assertGreater(int(response["bytes"]), 0)
        again = c.ftctl("backup", backup, check=False)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("exists", again.stderr)
        relative = c.ftctl("backup", "relative/dir", check=False)
        self.assertNotEqual(relative.returncode, 0)
        self.assertIn("absolute path", relative.stderr)
        events_before = [json.loads(line) for line in c.ftctl("watch", done, "-o", "json").stdout.splitlines()]

        # The coordinator's host is lost: a fresh data dir from the backup, a fresh ftd on it.
        c.kill_ftd()
        c.kill_worker("w1")
        shutil.rmtree(c.path("ftd"))
        shutil.copytree(backup, c.path("ftd", "store"))  # DATA_DIR/store is the coordinator's database.
        c.start_ftd()
        names = sorted(j["name"] for j in json.loads(c.ftctl("list", "-o", "json").stdout).get("jobs", []))
        self.assertEqual(names, sorted([done, running]))
        self.assertEqual(c.job(done)["state"], "JOB_STATE_SUCCEEDED")
        self.assertEqual(json.loads(c.ftctl("checkpoints", done, "-o", "json").stdout)["checkpoints"],
                         checkpoints_before)
        self.assertEqual([json.loads(line) for line in c.ftctl("watch", done, "-o", "json").stdout.splitlines()],
                         events_before)
        after = c.path("export-after")
        c.ftctl("export", done, "-d", after)
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            self.assertEqual(cluster.read_bytes(os.path.join(before, name)),
                             cluster.read_bytes(os.path.join(after, name)), name)
        # The job that was running when the copy was taken is not lost: it is still unfinished, and resumes.
        self.assertNotIn(c.job(running)["state"], ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"))


if __name__ == "__main__":
    unittest.main()
