#!/usr/bin/env bash
# The one test command: installs missing Debian packages, builds the full tree (build/) and the compute-only
# tree (build-compute/, FTD_SERVICE=OFF, so that build cannot rot), then runs ctest on both.
# Exit status is the tests'. Prints the time of each phase (CI budget on 2 cores: deps <= 4 min,
# build <= 12 min, ctest <= 12 min).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${FTD_JOBS:-2}

# nvcc lives outside PATH on some machines; the build turns CUDA on when it finds it (FTD_CUDA=AUTO).
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

PHASES=()
phase_start() { PHASE_NAME=$1; PHASE_T0=$(date +%s); echo "==> $1"; }
phase_end() {
  local secs=$(( $(date +%s) - PHASE_T0 ))
  PHASES+=("$(printf '%-28s %4ds' "$PHASE_NAME" "$secs")")
}
report() {
  echo "==> phase times"
  for p in "${PHASES[@]}"; do echo "    $p"; done
}
fail() { echo "test.sh: $1" >&2; report; exit 1; }

phase_start "deps"
scripts/install-deps.sh || fail "installing dependencies failed"
phase_end

phase_start "build (full)"
mkdir -p build && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >build/configure.log 2>&1 \
  || { cat build/configure.log; fail "configuring build/ failed"; }
cmake --build build -j "$JOBS" || fail "building build/ failed"
phase_end

phase_start "build (compute-only)"
mkdir -p build-compute && cmake -S . -B build-compute -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTD_SERVICE=OFF -DFTD_FUZZ=OFF \
  >build-compute/configure.log 2>&1 || { cat build-compute/configure.log; fail "configuring build-compute/ failed"; }
cmake --build build-compute -j "$JOBS" || fail "building build-compute/ failed"
phase_end

status=0
phase_start "ctest (full)"
(cd build && ctest --output-on-failure -j "$JOBS") || status=1
phase_end

phase_start "ctest (compute-only)"
(cd build-compute && ctest --output-on-failure -j "$JOBS") || status=1
phase_end

report
exit $status
