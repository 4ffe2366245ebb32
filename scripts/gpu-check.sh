#!/usr/bin/env bash
# The GPU check: builds the compute parts standalone (FTD_SERVICE=OFF, FTD_CUDA=ON) on a bare CUDA machine,
# runs every ctest there (GPU tests run for real), lists the GPUs with a probe kernel, and writes logs and
# summary.json into RESULTS_DIR. Needs: nvcc, cmake, ninja, a C++ compiler, and the carried .deps/prefix
# (scripts/compute-prefix.sh) where the Debian dev packages are absent; NCCL (CUDA toolkit or pip nvidia-nccl) if
# present, for the NCCL collective. Budget: under 8 minutes.
#   scripts/gpu-check.sh RESULTS_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu-check.sh RESULTS_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=build-gpu
JOBS=${FTD_JOBS:-$(nproc)}
T0=$(date +%s)
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -2
  cmake --version | head -1
  c++ --version | head -1
  ldd --version | head -1
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTD_SERVICE=OFF -DFTD_CUDA=ON -DFTD_FUZZ=OFF)
if [ -d .deps/prefix/usr ]; then
  P=$PWD/.deps/prefix/usr
  CMAKE_ARGS+=(-DCMAKE_PREFIX_PATH="$P"
    -Dabsl_DIR="$P/lib/x86_64-linux-gnu/cmake/absl" -DGTest_DIR="$P/lib/x86_64-linux-gnu/cmake/GTest"
    -DCLI11_DIR="$P/share/cmake/CLI11" -Dnlohmann_json_DIR="$P/share/cmake/nlohmann_json"
    -Dyaml-cpp_DIR="$P/lib/x86_64-linux-gnu/cmake/yaml-cpp")
  # The binaries' RUNPATH covers their direct libraries only; absl's libraries load each other through this.
  export LD_LIBRARY_PATH="$P/lib/x86_64-linux-gnu:$P/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# Libraries the CUDA build links, looked for beside the CUDA toolkit and else in PyTorch's pip packages
# (site-packages/nvidia/<folder>/{include,lib}, whose libraries have only their versioned names, which CMake's
# find_library misses, so both paths are passed).
CUDA_ROOT=$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")
# find_cuda_library LIBRARY HEADER PIP_PACKAGES: prints "SOURCE LIBRARY_PATH INCLUDE_DIR", or nothing. PIP_PACKAGES is
# a comma-separated list of folders under site-packages/nvidia (CUDA 13's wheels put cuBLAS in cu13/).
find_cuda_library() {
  local d
  for d in "$CUDA_ROOT/lib64" "$CUDA_ROOT/lib" "$CUDA_ROOT/targets/x86_64-linux/lib"; do
    if [ -e "$d/$1" ] && [ -e "$CUDA_ROOT/include/$2" ]; then echo "cuda-toolkit $d/$1 $CUDA_ROOT/include"; return; fi
  done
  python3 - "$1" "$2" "$3" 2>/dev/null <<'PY'
import os, site, sys
library, header, packages = sys.argv[1:]
dirs = list(sys.path)
for get in (site.getsitepackages, site.getusersitepackages):
    try:
        found = get()
        dirs += [found] if isinstance(found, str) else list(found)
    except Exception:
        pass
found = [(p, os.path.join(d, "nvidia", p)) for d in dirs for p in packages.split(",")]
for package, root in found:
    if os.path.exists(os.path.join(root, "lib", library)) and os.path.exists(os.path.join(root, "include", header)):
        print("pip-nvidia-%s %s %s" % (package, os.path.join(root, "lib", library), os.path.join(root, "include")))
        break
PY
}

# NCCL for the NCCL collective (worker/collective). Found nowhere: FTD_NCCL=AUTO, the build goes on without the NCCL
# collective and its test, and summary.json says so.
read -r NCCL_SOURCE NCCL_LIB NCCL_INC < <(find_cuda_library libnccl.so.2 nccl.h nccl; echo)
NCCL_SOURCE=${NCCL_SOURCE:-none}
if [ -n "$NCCL_LIB" ]; then
  CMAKE_ARGS+=(-DFTD_NCCL=ON -DNCCL_LIBRARY="$NCCL_LIB" -DNCCL_INCLUDE_DIR="$NCCL_INC")
  export LD_LIBRARY_PATH="$(dirname "$NCCL_LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  CMAKE_ARGS+=(-DFTD_NCCL=AUTO)
fi
# cuBLAS for the CUDA backend (kernels/cuda). Found nowhere: the build has no CUDA backend (GetBackend("cuda") says
# why), so the CUDA op harness and step parity cannot run; summary.json says so.
read -r CUBLAS_SOURCE CUBLAS_LIB CUBLAS_INC < <(find_cuda_library libcublas.so.13 cublas_v2.h cu13,cublas; echo)
CUBLAS_SOURCE=${CUBLAS_SOURCE:-none}
if [ "$CUBLAS_SOURCE" != none ] && [ "$CUBLAS_SOURCE" != cuda-toolkit ]; then
  CMAKE_ARGS+=(-DFTD_CUBLAS_LIBRARY="$CUBLAS_LIB" -DFTD_CUBLAS_INCLUDE_DIR="$CUBLAS_INC")
fi
if [ -n "$CUBLAS_LIB" ]; then
  export LD_LIBRARY_PATH="$(dirname "$CUBLAS_LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "cublas: $CUBLAS_SOURCE ${CUBLAS_LIB:-(not found: no CUDA backend in this build)}" | tee -a "$OUT/env.txt"
export CUBLAS_SOURCE CUBLAS_LIB
echo "nccl: $NCCL_SOURCE ${NCCL_LIB:-(not found: no NCCL collective in this build)}" | tee -a "$OUT/env.txt"
# NCCL's own warnings (why a communicator failed) go into ctest.log.
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}

build_rc=0
{ cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" && cmake --build "$BUILD" -j "$JOBS"; } >"$OUT/build.log" 2>&1 || build_rc=$?
tail -5 "$OUT/build.log"
T_BUILD=$(( $(date +%s) - T0 ))

ctest_rc=-1
devices_rc=-1
if [ $build_rc -eq 0 ]; then
  (cd "$BUILD" && ctest --output-on-failure --timeout 300) >"$OUT/ctest.log" 2>&1
  ctest_rc=$?
  (cd "$BUILD" && ctest -N -L '^gpu$') >"$OUT/gpu-tests.txt" 2>&1  # anchored: -L is a regex, and multi_gpu differs
  (cd "$BUILD" && ctest -N -L '^multi_gpu$') >"$OUT/multi-gpu-tests.txt" 2>&1
  tail -25 "$OUT/ctest.log"
  "$BUILD/worker/ftd-worker" devices --probe --json >"$OUT/devices.json" 2>"$OUT/devices.err"
  devices_rc=$?
  cat "$OUT/devices.json" "$OUT/devices.err"
fi
T_ALL=$(( $(date +%s) - T0 ))
NCCL_TEST_BUILT=0
[ -x "$BUILD/tests/worker/nccl_collective_test" ] && NCCL_TEST_BUILT=1
export NCCL_SOURCE NCCL_LIB NCCL_INC NCCL_TEST_BUILT

python3 - "$OUT" "$build_rc" "$ctest_rc" "$devices_rc" "$T_BUILD" "$T_ALL" <<'PY'
import json, os, re, sys
out, build_rc, ctest_rc, devices_rc, t_build, t_all = sys.argv[1], *map(int, sys.argv[2:])
summary = {"build_rc": build_rc, "ctest_rc": ctest_rc, "devices_rc": devices_rc,
           "build_seconds": t_build, "total_seconds": t_all, "tests": {}}
log = os.path.join(out, "ctest.log")
if os.path.exists(log):
    for line in open(log):
        m = re.search(r"Test +#\d+: (\S+) \.+\**\s*(Passed|Failed|Skipped|Not Run|Timeout|Exception)", line)
        if m:
            summary["tests"][m.group(1)] = m.group(2)
dev = os.path.join(out, "devices.json")
if os.path.exists(dev) and os.path.getsize(dev):
    try:
        summary["devices"] = json.load(open(dev))
    except ValueError as e:
        summary["devices_error"] = str(e)
# On a machine with a GPU, a GPU test that skipped is a failure: it means the build cannot see the device.
has_gpu = os.system("nvidia-smi -L >/dev/null 2>&1") == 0
summary["gpu_visible"] = has_gpu
gpu_count = os.popen("nvidia-smi -L 2>/dev/null").read().count("GPU ") if has_gpu else 0
summary["gpu_count"] = gpu_count
def labelled(name):
    path = os.path.join(out, name)
    return set(re.findall(r"Test +#\d+: (\S+)", open(path).read())) if os.path.exists(path) else set()
# Tests labelled `gpu` (ctest -N -L gpu); others may skip for their own reasons (no ../shared/data here). Tests
# labelled `multi_gpu` need two GPUs: their skip is a failure only where two are visible.
gpu_tests = labelled("gpu-tests.txt")
multi_gpu_tests = labelled("multi-gpu-tests.txt")
summary["gpu_tests"] = sorted(gpu_tests)
summary["multi_gpu_tests"] = sorted(multi_gpu_tests)
must_run = gpu_tests | (multi_gpu_tests if gpu_count >= 2 else set())
skipped = [t for t, r in summary["tests"].items() if r == "Skipped" and t in must_run]
# The NCCL collective: where NCCL came from, and whether its test was built and how it did. Absent NCCL is reported,
# not failed: the bare machine's CUDA install may not ship it.
nccl = {"source": os.environ.get("NCCL_SOURCE", "none"), "library": os.environ.get("NCCL_LIB", ""),
        "include_dir": os.environ.get("NCCL_INC", ""), "test_built": os.environ.get("NCCL_TEST_BUILT") == "1"}
nccl["tests"] = {t: r for t, r in summary["tests"].items() if t.startswith("nccl_")}
if nccl["source"] == "none" and nccl["test_built"]:
    nccl["source"] = "found by CMake's own search (see build.log)"
elif nccl["source"] == "none":
    nccl["note"] = "NCCL not found (CUDA toolkit or pip nvidia-nccl): built without the NCCL collective; not tested"
elif not nccl["test_built"]:
    nccl["note"] = "NCCL found but nccl_collective_test was not built (see build.log)"
summary["nccl"] = nccl
summary["cublas"] = {"source": os.environ.get("CUBLAS_SOURCE", "none"), "library": os.environ.get("CUBLAS_LIB", "")}
if summary["cublas"]["source"] == "none":
    summary["cublas"]["note"] = "cuBLAS not found: no CUDA backend in this build; its op harness and parity did not run"
summary["ok"] = build_rc == 0 and ctest_rc == 0 and devices_rc == 0 and not (has_gpu and skipped)
if has_gpu and skipped:
    summary["error"] = "a GPU is visible but these GPU tests skipped: " + ", ".join(skipped)
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(json.dumps({k: v for k, v in summary.items() if k != "devices"}, indent=2))
sys.exit(0 if summary["ok"] else 1)
PY
