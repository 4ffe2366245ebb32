#!/usr/bin/env python3
"""Benchmark scoring throughput of ftd (`ftd-worker eval`) against lm-evaluation-harness 0.4.13 (HFLM, CPU,
float32) on the same model and data, side by side, with a correctness column (issue 7).

    python3 bench/eval.py                                   # tiny_llama and a bigger random Llama, every row
    python3 bench/eval.py --models tiny --rows piqa --batch-sizes 1 --json-out /tmp/eval.json

Rows: MMLU (2 subjects) 0-shot and 5-shot, PIQA, WikiText-2 pages (rolling windows). For each row ftd runs twice
(`--limit N` and `--limit 1`, each timed whole); its scoring time is the difference, over the requests and tokens
of items 2..N (per MMLU subject), so model load and the first item fall out. lm_eval runs once per batch size
(bench/eval_peer_lm_eval.py in the fixture venv): its scoring time is simple_evaluate's. Requests = items x choices
(rolling windows for perplexity) and tokens = what HFLM feeds per request ((context + continuation) cut to
max_length + 1, minus the last), counted once on lm_eval's requests with lm_eval's tokenizer and used for both
sides (ftd tokenizes identically: tests/eval checks it against tests/fixtures/gen_eval.py). Both sides get 2
threads (OMP/OPENBLAS_NUM_THREADS for ftd's OpenBLAS, torch.set_num_threads for the peer). `#wrong`: for
accuracy rows the items that must differ, round(|acc_ftd - acc_lm| x items) (ftd prints only the mean); for
perplexity rows the metrics (word/byte perplexity, bits per byte) off by more than 1e-4 relative. Only the
standard library is needed here.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "..", "shared", "data")
TINY = os.path.join(REPO, "tests", "fixtures", "model_io", "tiny_llama")
SUBJECTS = "abstract_algebra,anatomy"
# The bigger model: the issue-4 bench shape (bench/README.md) with tiny_llama's 320-token tokenizer, so both sides
# tokenize with a tokenizer ftd's tests already hold against HF's.
BIG_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 512, "num_hidden_layers": 8,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 64, "intermediate_size": 1536,
    "vocab_size": 320, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
    "bos_token_id": 0, "eos_token_id": 1, "initializer_range": 0.02, "dtype": "float32",
}
ROWS = {  # name: (task, shots, default limit)
    "mmlu0": ("mmlu", 0, 50), "mmlu5": ("mmlu", 5, 50), "piqa": ("piqa", 0, 200), "wikitext": ("wikitext", 0, 5),
}


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def ftd_argv(args, model, task, shots, limit):
    suite = {"mmlu": "mmlu", "piqa": "piqa", "wikitext": "perplexity"}[task]
    data = {"mmlu": os.path.join(DATA, "mmlu"), "piqa": os.path.join(DATA, "piqa", "valid.jsonl"),
            "wikitext": os.path.join(DATA, "text", "wikitext-2-raw-test.txt")}[task]
    argv = [args.ftd_bin, "eval", "--model", model, "--suite", suite, "--data", data, "--limit", str(limit), "--json"]
    if task == "mmlu":
        argv += ["--subjects", SUBJECTS, "--num-fewshot", str(shots)]
    return argv


def run_timed(argv, env, label):
    """Runs argv; returns (wall seconds, the JSON object on its last non-empty stdout line)."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit("%s: %s exited with %d" % (label, " ".join(argv), proc.returncode))
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return wall, json.loads(lines[-1])


def ftd_metrics(record):
    return {k: v["value"] for k, v in record["metrics"].items()}


def make_big_model(args, tmp):
    out = os.path.join(tmp, "llama_h512_l8")
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump(BIG_CONFIG, f)
    subprocess.run([args.ftctl_bin, "model", "init", "--config", cfg, "--seed", "0", out], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TINY, name), os.path.join(out, name))
    # HF transformers must load it (it is the peer's model too): a forward on a few tokens.
    check = ("import sys, torch, transformers as t; m = t.AutoModelForCausalLM.from_pretrained(sys.argv[1]); "
             "n = sum(p.numel() for p in m.parameters()); "
             "print(n, tuple(m(torch.tensor([[0, 5, 7]])).logits.shape))")
    got = subprocess.run([args.python, "-c", check, out], check=True, capture_output=True, text=True).stdout.split()
    print("bigger model: %s (ftctl model init, seed 0), %s parameters, HF transformers loads it (logits %s)"
          % (out, got[0], " ".join(got[1:])), flush=True)
    return out


def import_stories(args, tmp):
    """The real pretrained tiny Llama of ../shared/data (stories260K, window 512) as an HF model directory."""
    src = os.path.join(DATA, "models", "stories260K")
    out = os.path.join(tmp, "stories260K")
    subprocess.run([args.ftctl_bin, "model", "import-llama2c", os.path.join(src, "stories260K.bin"),
                    os.path.join(src, "tok512.bin"), out], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    print("stories260K: %s (ftctl model import-llama2c)" % out, flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny,big",
                    help="tiny (the fixture), big (a random 25.5M Llama made at run time) and/or stories "
                         "(stories260K from ../shared/data, imported at run time)")
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated: " + ", ".join(ROWS))
    ap.add_argument("--limits", default="", help="row=N overrides, e.g. big:mmlu5=10,piqa=100 (model: optional)")
    ap.add_argument("--batch-sizes", default="1,auto", help="lm_eval batch sizes on tiny (default 1,auto)")
    ap.add_argument("--big-batch-sizes", default="1", help="lm_eval batch sizes on big (default 1: auto's probe "
                    "runs 64 x 1024 tokens first)")
    ap.add_argument("--ftd-repeats", type=int, default=3, help="ftd runs of each limit; the fastest counts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ftd-bin", default=os.path.join(REPO, "build", "worker", "ftd-worker"))
    ap.add_argument("--ftctl-bin", default=os.path.join(REPO, "build", "cli", "ftctl"))
    ap.add_argument("--python", default=os.environ.get("FTD_BENCH_PYTHON", "/opt/fixture-venv/bin/python"))
    ap.add_argument("--json-out", help="also write every row's record to this file (a JSON list)")
    args = ap.parse_args()
    limits = {}
    for kv in filter(None, args.limits.split(",")):
        k, v = kv.split("=")
        limits[k] = int(v)
    if not os.path.isdir(DATA):
        print("../shared/data absent: nothing to score")
        return 0

    print("load average at start: %s (%d CPUs)" % (loadavg(), os.cpu_count()), flush=True)
    ftd_env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    peer_env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONHASHSEED="0")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for m in args.models.split(","):
            models[m] = (TINY if m == "tiny" else import_stories(args, tmp) if m == "stories"
                         else make_big_model(args, tmp))
        for mname, mdir in models.items():
            for row in args.rows.split(","):
                task, shots, limit = ROWS[row]
                limit = limits.get("%s:%s" % (mname, row), limits.get(row, limit))
                peers = []
                for bs in (args.big_batch_sizes if mname == "big" else args.batch_sizes).split(","):
                    argv = [args.python, os.path.join(REPO, "bench", "eval_peer_lm_eval.py"), "--model", mdir,
                            "--task", task, "--shots", str(shots), "--limit", str(limit), "--subjects", SUBJECTS,
                            "--batch-size", bs, "--threads", str(args.threads)]
                    _, rec = run_timed(argv, peer_env, "lm_eval %s %s bs %s" % (mname, row, bs))
                    peers.append(rec)
                counts = peers[0]
                runs_n = [run_timed(ftd_argv(args, mdir, task, shots, limit), ftd_env, "ftd %s %s" % (mname, row))
                          for _ in range(args.ftd_repeats)]
                t_n, rec_n = min(runs_n, key=lambda r: r[0])
                t_1 = min(run_timed(ftd_argv(args, mdir, task, shots, 1), ftd_env, "ftd %s %s limit 1" % (mname, row))[0]
                          for _ in range(args.ftd_repeats))
                # Items scored by the --limit 1 run: the first of each MMLU subject, else the first.
                per_group = limit if task == "mmlu" else counts["n_items"]
                first = [i for i in range(counts["n_items"]) if i % per_group == 0]
                rest = [it for i, it in enumerate(counts["items"]) if i not in first]
                fm = ftd_metrics(rec_n)
                for peer in peers:
                    pm = peer["metrics"]
                    if task == "wikitext":
                        names = ("word_perplexity", "byte_perplexity", "bits_per_byte")
                        wrong = sum(abs(fm[k] - pm[k]) > 1e-4 * abs(pm[k]) for k in names)
                        score = "ppl %.6g/%.6g" % (fm["word_perplexity"], pm["word_perplexity"])
                        worst = max(abs(fm[k] - pm[k]) / abs(pm[k]) for k in names)
                    else:
                        wrong = round(abs(fm["acc"] - pm["acc"]) * counts["n_items"])
                        score = "acc %.4f/%.4f" % (fm["acc"], pm["acc"])
                        worst = abs(fm["acc"] - pm["acc"])
                    ftd_req, ftd_tok, ftd_s = sum(i["requests"] for i in rest), sum(i["tokens"] for i in rest), t_n - t_1
                    rec = {
                        "model": mname, "row": row, "task": task, "shots": shots, "limit": limit,
                        "items": counts["n_items"], "requests": counts["requests"], "tokens": counts["tokens"],
                        "lm_eval_forwards": peer["forwards"], "threads": args.threads,
                        "lm_eval_batch_size": peer["batch_size"], "lm_eval_batch_size_used": peer["batch_size_used"].replace("{0: ", "auto:").rstrip("}"),
                        "ftd_score_s": ftd_s, "ftd_total_s": t_n, "ftd_limit1_s": t_1, "ftd_requests_timed": ftd_req,
                        "ftd_tokens_timed": ftd_tok, "ftd_requests_per_s": ftd_req / ftd_s,
                        "ftd_tokens_per_s": ftd_tok / ftd_s,
                        "lm_eval_load_s": peer["load_s"], "lm_eval_score_s": peer["score_s"],
                        "lm_eval_requests_per_s": counts["requests"] / peer["score_s"],
                        "lm_eval_tokens_per_s": counts["tokens"] / peer["score_s"],
                        "ftd_metrics": fm, "lm_eval_metrics": {k: v for k, v in pm.items() if k != "acc_items"},
                        "max_rel_or_abs_diff": worst, "wrong": wrong, "score": score,
                        "lm_eval_peak_rss_bytes": peer["peak_rss_bytes"],
                    }
                    rec["ratio_tokens_per_s"] = rec["ftd_tokens_per_s"] / rec["lm_eval_tokens_per_s"]
                    records.append(rec)
                    print("row " + json.dumps(rec, sort_keys=True), flush=True)

    print("\nload average at end: %s; %d threads each side; times in s; ftd = (limit N) - (limit 1) runs, "
          "lm_eval = simple_evaluate" % (loadavg(), args.threads))
    head = ("model", "row", "items", "requests", "tokens", "lm bs", "ftd_s", "ftd req/s", "ftd tok/s", "lm_s",
            "lm req/s", "lm tok/s", "ftd/lm", "score ftd/lm", "#wrong")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in records:
        print("| %s | %s | %d | %d | %d | %s | %.2f | %.1f | %.0f | %.2f | %.1f | %.0f | %.2fx | %s | %d |" % (
            r["model"], r["row"], r["items"], r["requests"], r["tokens"], r["lm_eval_batch_size_used"],
            r["ftd_score_s"], r["ftd_requests_per_s"], r["ftd_tokens_per_s"], r["lm_eval_score_s"],
            r["lm_eval_requests_per_s"], r["lm_eval_tokens_per_s"], r["ratio_tokens_per_s"], r["score"], r["wrong"]))
    for r in records:
        print(json.dumps({k: r[k] for k in ("model", "row", "items", "requests", "tokens", "lm_eval_batch_size",
                                              "ftd_requests_per_s", "ftd_tokens_per_s", "lm_eval_requests_per_s",
                                              "lm_eval_tokens_per_s", "ratio_tokens_per_s", "wrong")}))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(records, f, indent=1)
    return 1 if any(r["wrong"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
