#!/usr/bin/env bash
# The main job: benchmark transfer end to end on one machine. Installs what it needs, builds ftd, ftd-worker and
# ftctl, then through the service itself: pretrains a small byte-level Llama on general English text from Debian
# packages (cached for later runs), fine-tunes it on a licence-identification task built from this machine's
# /usr/share/doc/*/copyright files with full fine-tuning, LoRA and QLoRA side by side (general-perplexity early
# stopping on), scores tuned and base models on the task, general perplexity and long-context retrieval, prints the
# transfer table, writes the HTML reports and exports the LoRA adapter. Every process it starts is stopped when it
# ends, fails or is interrupted.
#
#   scripts/demo.sh [--quick] [--cpu] [--base-model DIR] [--task FILE.jsonl] [--out DIR] [--cache DIR] [--bin-dir DIR]
#
#   --quick        CI-sized: a tiny model, a few steps, a small task (scripts/test.sh runs it)
#   --cpu          train on the CPU even where the build has CUDA and the machine a GPU (which it uses by default:
#                  one ftd-worker per GPU, up to 2, and `device: cuda` jobs)
#   --base-model   fine-tune this Hugging Face model directory instead of pretraining one
#   --task         your own task: JSONL with "text" and "label" per line (default: the licence task)
#   --out          where everything goes (default demo-out/ in the checkout; replaced)
#   --cache        where pretrained base models are kept between runs (default ~/.cache/ftd-demo)
#   --bin-dir      use the binaries in this build directory as they are: no install, no build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0 FORCE_CPU=0 BASE_MODEL="" TASK_FILE="" OUT="$ROOT/demo-out" CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ftd-demo" BIN_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --cpu) FORCE_CPU=1 ;;
    --base-model) BASE_MODEL=$(realpath "$2"); shift ;;
    --task) TASK_FILE=$(realpath "$2"); shift ;;
    --out) OUT=$(realpath -m "$2"); shift ;;
    --cache) CACHE=$(realpath -m "$2"); shift ;;
    --bin-dir) BIN_DIR=$(realpath "$2"); shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

T0=$(date +%s)
say() { printf '\n\033[1m==> %s\033[0m  (%ds)\n' "$1" "$(( $(date +%s) - T0 ))"; }
die() { echo "demo.sh: $*" >&2; exit 1; }

# ---- 1. dependencies and build (skipped with --bin-dir) ----
if [ -z "$BIN_DIR" ]; then
  say "installing Debian packages (scripts/install-deps.sh)"
  scripts/install-deps.sh
  say "building ftd, ftd-worker and ftctl (build/)"
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
  CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
  if command -v ccache >/dev/null 2>&1; then
    export CCACHE_DIR=${CCACHE_DIR:-$ROOT/.ccache} CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=true
    CMAKE_ARGS+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  mkdir -p build
  cmake -S . -B build "${CMAKE_ARGS[@]}" >build/configure.log 2>&1 || { cat build/configure.log; die "configuring failed"; }
  cmake --build build -j "${FTD_JOBS:-2}" --target ftd ftd-worker ftctl || die "building failed"
  BIN_DIR=$ROOT/build
fi
FTD=$BIN_DIR/coordinator/app/ftd WORKER=$BIN_DIR/worker/ftd-worker FTCTL=$BIN_DIR/cli/ftctl
for b in "$FTD" "$WORKER" "$FTCTL"; do [ -x "$b" ] || die "$b is not built"; done
BUILT=$(date +%s)

# ---- processes: every one started is recorded and stopped on exit, failure or Ctrl-C ----
rm -rf "$OUT"
mkdir -p "$OUT/logs"
PIDS=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ ${#PIDS[@]} -gt 0 ]; then
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      local alive=0
      for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.1
    done
    kill -KILL "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
  fi
  [ $status -ne 0 ] && echo "demo.sh: stopped (exit $status); logs in $OUT/logs" >&2
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start() {  # start NAME CMD...: in the background, output to logs/NAME.log
  local name=$1; shift
  "$@" >"$OUT/logs/$name.log" 2>&1 &
  PIDS+=($!)
  echo "$! $name" >>"$OUT/pids"
}

# ---- 2. data: general text, the task, a byte-level tokenizer, the model's config ----
say "preparing the data (scripts/demo/prepare_data.py)"
PREP=(python3 scripts/demo/prepare_data.py --out "$OUT/data")
[ $QUICK -eq 1 ] && PREP+=(--quick)
[ -n "$TASK_FILE" ] && PREP+=(--task "$TASK_FILE")
"${PREP[@]}"
DATA=$OUT/data

# ---- 3. the service: ftd and two workers on loopback: one per GPU (up to 2) where this build and machine have
# GPUs, else two CPU workers of one core each ----
GPUS=0
if [ $FORCE_CPU -eq 0 ]; then
  GPUS=$("$WORKER" devices --json 2>/dev/null | python3 -c 'import json, sys
try: print(min(len(json.load(sys.stdin).get("devices", [])), 2))
except Exception: print(0)')
fi
if [ "$GPUS" -gt 0 ]; then
  DEVICE=cuda WORKERS=$GPUS PRETRAIN_WORLD=$GPUS
  say "starting ftd and $GPUS GPU worker(s) on loopback"
else
  DEVICE=cpu WORKERS=2 PRETRAIN_WORLD=2
  say "starting ftd and 2 CPU workers on loopback"
fi
read -r GRPC_PORT HTTP_PORT < <(python3 -c 'import socket
ports = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s); 
print(*[s.getsockname()[1] for s in ports])')
export FTD_SERVER=127.0.0.1:$GRPC_PORT
start ftd "$FTD" --data-dir "$OUT/ftd" --listen "$FTD_SERVER" --http-listen "127.0.0.1:$HTTP_PORT"
for i in $(seq "$WORKERS"); do
  if [ "$DEVICE" = cuda ]; then
    start "worker$i" "$WORKER" serve --coordinator "$FTD_SERVER" --work-dir "$OUT/worker$i" --host "worker$i" \
      --gpu $((i - 1))
  else
    # One core per worker: two OpenMP teams spinning on two cores would take turns at a crawl.
    start "worker$i" env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive \
      "$WORKER" serve --coordinator "$FTD_SERVER" --work-dir "$OUT/worker$i" --host "worker$i" --memory-bytes $((6 << 30))
  fi
done
for _ in $(seq 300); do
  [ "$("$FTCTL" workers -o json 2>/dev/null | python3 -c 'import json,sys
try: print(len(json.load(sys.stdin).get("workers", [])))
except Exception: print(0)')" = "$WORKERS" ] && break
  sleep 0.1
done
"$FTCTL" workers || die "ftd did not come up (logs in $OUT/logs)"

# wait_job JOB: `ftctl watch` until it ends; its exit status is the job's outcome (0 SUCCEEDED / EARLY_STOPPED).
wait_job() { "$FTCTL" watch "$1"; }

# ---- 4. the base model: given, cached, or pretrained through the service ----
if [ $QUICK -eq 1 ]; then
  PRETRAIN_STEPS=40 SEQ=256 BATCH=4 LR=3e-3
else
  PRETRAIN_STEPS=250 SEQ=256 BATCH=8 LR=3e-3
fi
if [ -z "$BASE_MODEL" ]; then
  KEY=$(cat "$DATA/model_config.json" "$DATA/general/train.jsonl" "$DATA/tokenizer/tokenizer.json" \
    <(echo "$PRETRAIN_STEPS $SEQ $BATCH $LR") | sha256sum | cut -c1-16)
  BASE_MODEL=$CACHE/base-$KEY
  if [ -f "$BASE_MODEL/config.json" ]; then
    say "reusing the pretrained base model $BASE_MODEL"
  else
    say "pretraining a byte-level Llama from random initialisation through ftd ($PRETRAIN_STEPS steps, $PRETRAIN_WORLD rank(s), $DEVICE)"
    "$FTCTL" model init --config "$DATA/model_config.json" --tokenizer "$DATA/tokenizer" --seed 1 "$OUT/init" >/dev/null
    cat >"$OUT/pretrain.yaml" <<EOF
name: demo-pretrain
base_model: $OUT/init
method: full
datasets:
  - path: $DATA/general/train.jsonl
sequence_len: $SEQ
sample_packing: true
micro_batch_size: $BATCH
max_steps: $PRETRAIN_STEPS
learning_rate: $LR
lr_scheduler: cosine
warmup_steps: $(( PRETRAIN_STEPS / 20 + 1 ))
weight_decay: 0.01
seed: 1
save_steps: $(( PRETRAIN_STEPS / 4 ))
world_size: $PRETRAIN_WORLD
device: $DEVICE
EOF
    PRETRAIN=$("$FTCTL" submit "$OUT/pretrain.yaml")
    wait_job "$PRETRAIN"
    mkdir -p "$CACHE"
    rm -rf "$BASE_MODEL.tmp"
    "$FTCTL" export "$PRETRAIN" -d "$BASE_MODEL.tmp" >/dev/null
    mv "$BASE_MODEL.tmp" "$BASE_MODEL"
    echo "pretrained base model cached in $BASE_MODEL"
  fi
fi

# ---- 5. full, LoRA and QLoRA on the task, side by side ----
if [ $QUICK -eq 1 ]; then
  TUNE_STEPS=12 TASK_LIMIT=20 PPL_LIMIT=2 CONTEXTS="[256, 512]" EVAL_STEPS=4
else
  TUNE_STEPS=150 TASK_LIMIT=0 PPL_LIMIT=0 CONTEXTS="[256, 512]" EVAL_STEPS=15
fi
spec() {  # spec METHOD LR
  cat <<EOF
name: demo-$1
base_model: $BASE_MODEL
method: $1
EOF
  [ "$1" != full ] && printf 'lora_r: 16\nlora_alpha: 32\nlora_target_modules: all-linear\n'
  cat <<EOF
datasets:
  - path: $DATA/task/task_train.jsonl
val_set_size: 0.1
rehearsal:
  path: $DATA/general/train.jsonl
  ratio: 0.25
sequence_len: 512
micro_batch_size: 4
max_steps: $TUNE_STEPS
learning_rate: $2
lr_scheduler: cosine
warmup_steps: $(( TUNE_STEPS / 10 + 1 ))
seed: 2
eval_steps: $EVAL_STEPS
save_steps: $EVAL_STEPS
early_stopping:
  general_eval_dataset: $DATA/general/heldout.txt
  general_ppl_max_rise: 0.5
  patience: 2
benchmarks:
  - suite: task
    path: $DATA/task
    limit: $TASK_LIMIT
  - suite: perplexity
    path: $DATA/general/heldout.txt
    limit: $PPL_LIMIT
  - suite: long_context
    path: $DATA/general/haystack.txt
    context_lengths: $CONTEXTS
world_size: 1
device: $DEVICE
EOF
}
say "fine-tuning on the task: full, LoRA and QLoRA jobs ($WORKERS at a time on the $DEVICE worker(s))"
declare -A JOB
for m in full lora qlora; do
  case $m in full) lr=3e-4 ;; *) lr=3e-3 ;; esac
  spec $m $lr >"$OUT/$m.yaml"
  JOB[$m]=$("$FTCTL" submit "$OUT/$m.yaml")
  echo "submitted ${JOB[$m]} ($m)"
done
WATCHERS=()
for m in full lora qlora; do
  ( "$FTCTL" watch "${JOB[$m]}" 2>&1 | sed -u "s/^/[$m] /" ) &
  WATCHERS+=($!)
  PIDS+=($!)
done
for w in "${WATCHERS[@]}"; do wait "$w" || true; done

# ---- 6. the transfer table, the HTML reports, the LoRA adapter ----
say "the transfer: what each method gained on the task and lost elsewhere"
"$FTCTL" report "${JOB[full]}" "${JOB[lora]}" "${JOB[qlora]}" | tee "$OUT/transfer.md"
for m in full lora qlora; do
  "$FTCTL" report "${JOB[$m]}" --html "$OUT/report-$m.html" >/dev/null
  "$FTCTL" report "${JOB[$m]}" -o json >"$OUT/report-$m.json"
done
"$FTCTL" export "${JOB[lora]}" -d "$OUT/lora-adapter" >/dev/null
say "done"
cat <<EOF
  HTML reports:       $OUT/report-full.html, report-lora.html, report-qlora.html
  LoRA adapter:       $OUT/lora-adapter (PEFT format: adapter_config.json, adapter_model.safetensors)
  base model:         $BASE_MODEL
  logs:               $OUT/logs
  wall time:          $(( $(date +%s) - BUILT ))s after the build
EOF
