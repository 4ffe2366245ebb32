#!/usr/bin/env python3
"""Runs ftd's training-step benchmark and the PyTorch + PEFT peer alternately and compares them (issue 4).

Each measurement runs in its own process (peak RSS is per process). Rounds alternate which side goes first,
so slow drift on a shared machine falls on both. Prints one line per run, then per mode the median
tokens/s of each side, the ratio ftd / peer, and each side's peak RSS. Needs only the Python standard
library; the peer runs under --python (the pinned venv).

    python3 bench/train_step.py                                  # lora and full, 3 rounds each
    python3 bench/train_step.py --modes lora --rounds 1 --steps 5 --json-out /tmp/train_step.json

Until bench/train_step is built (the training core is being written), only the peer side runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED_FIELDS = ["impl", "mode", "tokens_per_step", "step_seconds_median", "step_seconds_all",
                   "tokens_per_second", "peak_rss_bytes", "threads", "flops_per_token", "achieved_gflops"]
TARGET_RATIO = 1.5  # issue 4: ftd >= 1.5x PyTorch+PEFT tokens/s; below 1.0x is not done


def run_one(argv, label):
    """Runs one measurement process and returns its JSON record (the last stdout line)."""
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{label}: {' '.join(argv)} exited with {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"{label}: printed no JSON line")
    record = json.loads(lines[-1])
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing:
        raise SystemExit(f"{label}: JSON line lacks {missing}")
    return record


def check_same_work(record, mode, label):
    """Both sides must report the mode asked for and the bench config's 8 x 256 tokens per step."""
    if record["mode"] != mode or record["tokens_per_step"] != 8 * 256:
        raise SystemExit(f"{label}: reported mode {record['mode']!r}, {record['tokens_per_step']} tokens/step; "
                         f"expected {mode!r}, 2048")


def mib(n):
    return f"{n / 2**20:.0f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="lora,full", help="comma-separated: lora, full (default both)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side per mode (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--ftd-bin", default=os.path.join(REPO, "build", "bench", "train_step"),
                        help="ftd's benchmark binary (default build/bench/train_step)")
    parser.add_argument("--python", default=os.environ.get("FTD_BENCH_PYTHON", "/opt/fixture-venv/bin/python"),
                        help="interpreter with torch, transformers, peft (default $FTD_BENCH_PYTHON or the "
                             "fixture venv)")
    parser.add_argument("--json-out", help="also write every run's record to this file (a JSON list)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in ("lora", "full") for m in modes) or args.rounds < 1:
        parser.error("--modes takes lora and/or full; --rounds >= 1")

    common = ["--threads", str(args.threads), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    have_ftd = os.access(args.ftd_bin, os.X_OK)
    if not have_ftd:
        print(f"ftd: {args.ftd_bin} not found: bench/train_step is not built (or not written yet); "
              "running the PyTorch peer only, no ratio", flush=True)

    records = []
    for mode in modes:
        sides = {"peer": [args.python, os.path.join(REPO, "bench", "peer_pytorch.py"), "--mode", mode] + common}
        if have_ftd:
            sides["ftd"] = [args.ftd_bin, "--mode", mode] + common
        for round_index in range(args.rounds):
            order = sorted(sides, reverse=(round_index % 2 == 1))  # ftd first, then peer first, ...
            for side in order:
                record = run_one(sides[side], f"{side} {mode} round {round_index + 1}")
                check_same_work(record, mode, f"{side} {mode} round {round_index + 1}")
                record["side"] = side
                records.append(record)
                print(f"{mode:4} round {round_index + 1} {side:4} ({record['impl']}): "
                      f"{record['tokens_per_second']:.1f} tokens/s, step {record['step_seconds_median']:.3f} s, "
                      f"{record['achieved_gflops']:.1f} GFLOP/s, peak RSS {mib(record['peak_rss_bytes'])}",
                      flush=True)

    print(f"\nsummary (medians over {args.rounds} round(s), {args.steps} timed steps each, "
          f"{args.threads} threads)")
    for mode in modes:
        by_side = {}
        for side in ("ftd", "peer"):
            runs = [r for r in records if r["mode"] == mode and r["side"] == side]
            if runs:
                by_side[side] = (statistics.median(r["tokens_per_second"] for r in runs),
                                 max(r["peak_rss_bytes"] for r in runs),
                                 statistics.median(r["achieved_gflops"] for r in runs))
        for side, (tps, rss, gflops) in by_side.items():
            print(f"  {mode:4} {side:4}: {tps:9.1f} tokens/s  {gflops:7.1f} GFLOP/s  peak RSS {mib(rss)}")
        if "ftd" in by_side:
            ratio = by_side["ftd"][0] / by_side["peer"][0]
            rss_ratio = by_side["ftd"][1] / by_side["peer"][1]
            print(f"  {mode:4} ratio ftd/peer: {ratio:.2f}x tokens/s (target >= {TARGET_RATIO}x, "
                  f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}), peak RSS {rss_ratio:.2f}x "
                  f"(target <= 1.0x, {'met' if rss_ratio <= 1.0 else 'NOT met'})")
        else:
            print(f"  {mode:4} ratio ftd/peer: n/a (no ftd binary)")

    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
