"""The lm-evaluation-harness side of bench/eval.py (issue 7): one suite of the battery scored by lm_eval 0.4.13 with
its HF backend (HFLM, CPU, float32), timed, its requests and fed tokens counted; one JSON line on stdout.

Run under the fixture venv (torch, transformers, lm_eval installed with --no-deps):

    /opt/fixture-venv/bin/python bench/eval_peer_lm_eval.py --model DIR --task mmlu --shots 5 --limit 50 \
        --subjects abstract_algebra,anatomy --batch-size 1 --threads 2

The data subsets and the custom tasks (lm_eval's own task yaml included by absolute path, the data source
overridden) are those of tests/fixtures/gen_eval.py, imported from it with its limits set here; so are the import
stubs for the packages the venv lacks (datasets, dill, sacrebleu, pandas). Times: `load_s` = HFLM construction
(model and tokenizer), `score_s` = simple_evaluate (task building, request construction, the forwards, metrics;
with --batch-size auto also lm_eval's batch-size probe).
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))


def fed_tokens(n_ctx, n_cont, max_length):
    """Tokens HFLM feeds for one request: (context + continuation)[-(max_length + 1):][:-1]."""
    return min(n_ctx + n_cont, max_length + 1) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--task", required=True, choices=["mmlu", "piqa", "wikitext"])
    ap.add_argument("--subjects", default="abstract_algebra,anatomy")
    ap.add_argument("--shots", type=int, default=0)
    ap.add_argument("--limit", type=int, required=True, help="items (mmlu: per subject; wikitext: pages)")
    ap.add_argument("--batch-size", default="1", help="an integer or 'auto' (lm_eval's probe, max 64)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for k, v in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                 "DISABLE_MULTIPROC": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
        os.environ[k] = v

    import contextlib
    import gen_eval as ge  # tests/fixtures/gen_eval.py: data subsets, custom tasks, import stubs
    with contextlib.redirect_stdout(sys.stderr):  # as gen_eval does: torch, transformers, peft imported (and
        versions = ge.check_versions(True)       # torch's probes run) before the stubs go in
    stubbed = ge.install_import_stubs()
    import torch
    import transformers
    import lm_eval
    from lm_eval import simple_evaluate, utils as lm_utils
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ge.MMLU_SUBJECTS = args.subjects.split(",")
    # write_tasks writes every suite of the battery; those not scored here get one item.
    ge.MMLU_TEST_ITEMS = args.limit if args.task == "mmlu" else 1
    ge.MMLU_SHOTS = [args.shots]
    ge.PIQA_ITEMS = args.limit if args.task == "piqa" else 1
    ge.WIKITEXT_PAGES = args.limit if args.task == "wikitext" else 1
    ge.HELLASWAG_ITEMS = 1
    ge.TASK_ITEMS = 1
    ge.TASK_SHOTS = [0]

    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    t0 = time.perf_counter()
    lm = HFLM(pretrained=args.model, device="cpu", dtype="float32", batch_size=batch)
    load_s = time.perf_counter() - t0
    max_length, prefix = lm.max_length, lm.prefix_token_id

    with tempfile.TemporaryDirectory() as tmp:
        tdir, src, groups, _, _ = ge.write_tasks(tmp, os.path.dirname(lm_eval.__file__), lm.tokenizer)
        tasks = {"mmlu": ["ftd_mmlu_%dshot" % args.shots], "piqa": ["ftd_piqa"], "wikitext": ["ftd_wikitext"]}
        tm = TaskManager(include_path=tdir, include_defaults=True)
        t0 = time.perf_counter()
        res = simple_evaluate(model=lm, tasks=tasks[args.task], task_manager=tm, log_samples=True,
                              random_seed=0, numpy_random_seed=1234, torch_random_seed=1234,
                              fewshot_random_seed=1234)
        score_s = time.perf_counter() - t0

    results, samples = res["results"], res["samples"]
    # Per item, in ftd's order (subject by subject, items in file order): requests and tokens fed.
    items, forwards = [], set()
    metrics = {}
    if args.task == "wikitext":
        r = results["ftd_wikitext"]
        metrics = {m: float(r["%s,none" % m]) for m in ("word_perplexity", "byte_perplexity", "bits_per_byte")}
        for s in sorted(samples["ftd_wikitext"], key=lambda s: s["doc_id"]):
            (target,), = ge.request_args(s["arguments"])
            windows = list(map(lm_utils.make_disjoint_window, lm_utils.get_rolling_token_windows(
                token_list=lm.tok_encode(target), prefix_token=prefix, max_seq_len=max_length, context_len=1)))
            items.append({"requests": len(windows),
                          "tokens": sum(fed_tokens(len(c), len(p), max_length) for c, p in windows)})
        forwards_n = sum(it["requests"] for it in items)
    else:
        names = (["ftd_mmlu_%dshot_%s" % (args.shots, s) for s in ge.MMLU_SUBJECTS] if args.task == "mmlu"
                 else ["ftd_piqa"])
        accs = []
        for name in names:
            for s in sorted(samples[name], key=lambda s: s["doc_id"]):
                n_req = n_tok = 0
                for ctx, cont in ge.request_args(s["arguments"]):
                    ce, ke = lm._encode_pair(ctx, cont)
                    n_req += 1
                    n_tok += fed_tokens(len(ce), len(ke), max_length)
                    # HFLM's logits cache (group_by="contexts") runs one forward per distinct context +
                    # continuation[:-1]: MMLU's one-token answers share one.
                    forwards.add(tuple((ce + ke)[-(max_length + 1):][:-1]))
                items.append({"requests": n_req, "tokens": n_tok})
                accs.append(float(s["acc"]))
        metrics = {"acc": sum(accs) / len(accs)}
        metrics["acc_items"] = accs
        forwards_n = len(forwards)

    print(json.dumps({
        "impl": "lm_eval", "lm_eval_version": lm_eval.__version__, "torch_version": torch.__version__,
        "transformers_version": transformers.__version__, "task": args.task, "shots": args.shots,
        "batch_size": args.batch_size, "batch_size_used": str(getattr(lm, "batch_sizes", None) or lm.batch_size),
        "threads": args.threads, "max_length": max_length, "n_items": len(items),
        "requests": sum(it["requests"] for it in items), "tokens": sum(it["tokens"] for it in items),
        "forwards": forwards_n, "items": items, "load_s": load_s, "score_s": score_s, "metrics": metrics,
        "import_stubs": stubbed, "versions_pinned_ok": versions.get("lm_eval") == "0.4.13", "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
