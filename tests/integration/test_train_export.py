"""Done-when 1 of the coordinator issue: ftd + 2 CPU ftd-workers + ftctl train a 2-rank LoRA job to SUCCEEDED and
export it; the adapter equals a standalone 2-rank run of the same spec, byte for byte. And QLoRA through the whole
system (issue 8): a qlora job on the tiny model ends SUCCEEDED with a plain PEFT adapter (the keys of a lora job's), a
transfer report noting the quantisation, and a tuned score that `ftd-worker eval --quantize-base` on the exported
adapter reproduces exactly; a qlora job on a bitsandbytes 4-bit base trains too, and its merged export is refused."""

import json
import os
import shutil
import subprocess
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



def text_benchmark(path):
    """A few sentences for the perplexity suite: enough for the tiny model's rolling windows, scored in well under
    a second."""
    with open(path, "w") as f:
        for i in range(6):
            f.write("The rank tests sentence number %d is scored with rolling windows, %d times over.\n" % (i, i + 2))


def small_spec(base_model, dataset, method, benchmark, extra=()):
    """One rank, a handful of steps, one perplexity benchmark: what a job needs to reach a transfer report."""
    return "\n".join([
        "name: it-%s" % method,
        "base_model: %s" % base_model,
        "method: %s" % method,
        "lora_r: 4",
        "lora_alpha: 8",
    ] + list(extra) + [
        "datasets:",
        "  - path: %s" % dataset,
        "sequence_len: 32",
        "micro_batch_size: 2",
        "max_steps: 6",
        "learning_rate: 1e-2",
        "lr_scheduler: constant",
        "seed: 11",
        "save_steps: 6",
        "world_size: 1",
        "device: cpu",
        "benchmarks:",
        "  - suite: perplexity",
        "    path: %s" % benchmark,
        "",
    ])


class QloraJobTest(unittest.TestCase):
    def setUp(self):
        self.cluster = cluster.Cluster()
        self.addCleanup(self.cluster.close)

    def run_job(self, spec_text, filename):
        c = self.cluster
        job = c.submit(spec_text, filename=filename)
        watch = c.ftctl("watch", job, check=False, timeout=300)
        self.assertEqual(watch.returncode, 0, watch.stdout + watch.stderr + c.logs())
        self.assertEqual(c.job(job)["state"], "JOB_STATE_SUCCEEDED")
        return job

    def export_adapter(self, job, name):
        out = self.cluster.path(name)
        self.cluster.ftctl("export", job, "--kind", "adapter", "-d", out)
        return out

    def worker_eval(self, args):
        result = subprocess.run([cluster.WORKER_BIN, "eval"] + args + ["--json"], capture_output=True, text=True,
                                timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def test_qlora_job_scores_as_trained_and_exports_a_plain_adapter(self):
        c = self.cluster
        dataset = c.path("data.jsonl")
        cluster.write_dataset(dataset)
        benchmark = c.path("bench.txt")
        text_benchmark(benchmark)
        c.start_ftd()
        c.start_worker("w1")
        c.wait_workers(1)

        lora = self.run_job(small_spec(cluster.TINY_MODEL, dataset, "lora", benchmark), "lora.yaml")
        qlora = self.run_job(small_spec(cluster.TINY_MODEL, dataset, "qlora", benchmark), "qlora.yaml")
        self.assertTrue(c.job(qlora)["resolvedSpec"]["bnb4bitUseDoubleQuant"])

        # A plain PEFT adapter: the keys (and values) of the lora job's adapter_config.json, nothing about 4 bits.
        lora_out = self.export_adapter(lora, "export-lora")
        qlora_out = self.export_adapter(qlora, "export-qlora")
        lora_config = cluster.load_json(os.path.join(lora_out, "adapter_config.json"))
        qlora_config = cluster.load_json(os.path.join(qlora_out, "adapter_config.json"))
        self.assertEqual(sorted(qlora_config), sorted(lora_config))
        self.assertEqual(qlora_config, lora_config)
        self.assertFalse([k for k in qlora_config if "quant" in k or "4bit" in k], qlora_config)
        self.assertNotEqual(cluster.read_bytes(os.path.join(qlora_out, "adapter_model.safetensors")),
                            cluster.read_bytes(os.path.join(lora_out, "adapter_model.safetensors")))
        self.assertEqual(cluster.load_json(os.path.join(qlora_out, "provenance.json"))["spec"]["method"],
                         "METHOD_QLORA")

        # The report: the base side is the unquantised base (the lora job's cached results: the same model and data),
        # the tuned side the adapter on the NF4 base; the Markdown says so.
        reports = {}
        for job in (lora, qlora):
            reports[job] = json.loads(c.ftctl("report", job, "-o", "json").stdout)
            self.assertEqual(reports[job]["name"], job + "/transferReport")
        base_value = lambda job: reports[job]["baseResults"][0]["metrics"]
        self.assertEqual(base_value(qlora), base_value(lora))
        self.assertIn("Note: method qlora: the tuned model is scored as trained", c.ftctl("report", qlora).stdout)
        self.assertNotIn("method qlora", c.ftctl("report", lora).stdout)
        self.assertIn("--quantize-base nf4-double-quant", c.ftctl("logs", qlora).stdout)

        # `ftd-worker eval` on the exported adapter with the base quantised as the job trained it gives the tuned
        # numbers exactly; without the flag (the base as stored) it does not.
        args = ["--model", cluster.TINY_MODEL, "--adapter", qlora_out, "--suite", "perplexity", "--data", benchmark]
        tuned = {m["metric"]: m.get("value", 0.0) for m in reports[qlora]["tunedResults"][0]["metrics"]}
        scored = self.worker_eval(args + ["--quantize-base", "nf4-double-quant"])
        self.assertEqual({k: v["value"] for k, v in scored["metrics"].items()}, tuned)
        unquantised = self.worker_eval(args)
        self.assertNotEqual({k: v["value"] for k, v in unquantised["metrics"].items()}, tuned)

        # A qlora job on a bitsandbytes 4-bit base (the fixture has no tokenizer: tiny_llama's beside it) trains on
        # the stored codes; its adapter exports, its merged model is refused with the cause.
        base_4bit = c.path("tiny_llama_nf4_dq")
        shutil.copytree(os.path.join(cluster.SOURCE_DIR, "tests", "fixtures", "quant", "tiny_llama_nf4_dq"), base_4bit)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(cluster.TINY_MODEL, name), base_4bit)
        on_4bit = self.run_job(small_spec(base_4bit, dataset, "qlora", benchmark), "qlora-4bit.yaml")
        exported = self.export_adapter(on_4bit, "export-qlora-4bit")
        self.assertEqual(sorted(cluster.load_json(os.path.join(exported, "adapter_config.json"))), sorted(lora_config))
        merged = c.ftctl("export", on_4bit, "--kind", "merged", "-d", c.path("merged-4bit"), check=False)
        self.assertNotEqual(merged.returncode, 0)
        self.assertIn("bitsandbytes 4-bit directory", merged.stderr)
        self.assertFalse(os.path.exists(c.path("merged-4bit")))
        # The adapter trained on the stored codes, scored on them: the job's tuned numbers again.
        report = json.loads(c.ftctl("report", on_4bit, "-o", "json").stdout)
        tuned = {m["metric"]: m.get("value", 0.0) for m in report["tunedResults"][0]["metrics"]}
        scored = self.worker_eval(["--model", base_4bit, "--adapter", exported, "--suite", "perplexity", "--data",
                                   benchmark])
        self.assertEqual({k: v["value"] for k, v in scored["metrics"].items()}, tuned)


if __name__ == "__main__":
    unittest.main()
