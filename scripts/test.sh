#!/usr/bin/env bash
# The one test command: installs missing Debian packages, builds the full tree (build/) and the compute-only
# tree (build-compute/, FTD_SERVICE=OFF, so that build cannot rot), then runs ctest on both.
# Exit status is the tests'. Prints the time of each phase (CI budget on 2 cores: deps <= 4 min,
# build <= 12 min, ctest <= 12 min).
#
# Both trees compile through ccache (cache in .ccache/ unless CCACHE_DIR says otherwise): 160 of the compute-only
# tree's 178 objects compile from the same source with the same flags as in the full tree, so the second tree
# mostly links. Debug info is line tables only (-g1): backtraces keep file:line, compiles take about a third less.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${FTD_JOBS:-2}

# nvcc lives outside PATH on some machines; the build turns CUDA on when it finds it (FTD_CUDA=AUTO).
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

export CCACHE_DIR=${CCACHE_DIR:-$ROOT/.ccache}
export CCACHE_BASEDIR=$ROOT   # paths under the checkout hash relative, so build/ and build-compute/ share entries
export CCACHE_NOHASHDIR=true  # ... and the working directory (build/ or build-compute/) is not hashed either
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-3G}

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

CMAKE_COMMON=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
if command -v ccache >/dev/null 2>&1; then
  CMAKE_COMMON+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
    -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

phase_start "build (full)"
mkdir -p build && cmake -S . -B build "${CMAKE_COMMON[@]}" >build/configure.log 2>&1 \
  || { cat build/configure.log; fail "configuring build/ failed"; }
cmake --build build -j "$JOBS" || fail "building build/ failed"
phase_end

phase_start "build (compute-only)"
mkdir -p build-compute && cmake -S . -B build-compute "${CMAKE_COMMON[@]}" -DFTD_SERVICE=OFF -DFTD_FUZZ=OFF \
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

command -v ccache >/dev/null 2>&1 && ccache --show-stats 2>/dev/null | grep -E "^(Cacheable|  Hits|  Misses)" | sed 's/^/    ccache: /'
report
exit $status
