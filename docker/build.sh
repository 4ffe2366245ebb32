#!/usr/bin/env bash
# Builds one image variant's binaries and installs them, stripped, into PREFIX/bin: the Dockerfiles' build step,
# also run by tests/docker (where no Docker engine exists), so the two cannot drift apart.
#
#   docker/build.sh --variant coordinator|worker-cpu|worker-cuda --prefix DIR [--build-dir DIR] [--jobs N]
#                   [--configure-only]
#
# coordinator: ftd and ftctl (the admin CLI); worker-cpu / worker-cuda: ftd-worker. All three are service builds
# (FTD_SERVICE=ON): `ftd-worker serve` exists only there. CUDA is OFF for coordinator and worker-cpu, ON for
# worker-cuda (which then needs NCCL too, worker/collective/CMakeLists.txt).
#
# A fresh --build-dir is configured with scripts/test.sh's flags plus the variant's. An already configured one is
# reused as it is and only checked (FTD_SERVICE on; CUDA off for worker-cpu, on for worker-cuda; the coordinator
# never links CUDA, so either does): reconfiguring a shared tree with other options would rebuild most of it,
# and would leave those options in its cache for the next scripts/test.sh run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

usage() {
  sed -n '5,6p' "$0" | sed 's/^# \{0,3\}//' >&2
  exit 2
}

VARIANT='' PREFIX='' BUILD_DIR='' JOBS='' CONFIGURE_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --variant) VARIANT=${2:?}; shift 2 ;;
    --prefix) PREFIX=${2:?}; shift 2 ;;
    --build-dir) BUILD_DIR=${2:?}; shift 2 ;;
    --jobs) JOBS=${2:?}; shift 2 ;;
    --configure-only) CONFIGURE_ONLY=1; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown argument: $1" >&2; usage ;;
  esac
done

# Each variant: the CMake targets it builds; their install components (one per binary, the install() rules in
# coordinator/app, cli and worker); the FTD_CUDA value a fresh tree gets.
case $VARIANT in
  coordinator) TARGETS=(ftd ftctl); CUDA=OFF ;;
  worker-cpu) TARGETS=(ftd-worker); CUDA=OFF ;;
  worker-cuda) TARGETS=(ftd-worker); CUDA=ON ;;
  *) echo "build.sh: --variant must be coordinator, worker-cpu or worker-cuda (got '${VARIANT}')" >&2; usage ;;
esac
[ -n "$PREFIX" ] || { echo "build.sh: --prefix is required" >&2; usage; }
[[ $JOBS =~ ^[0-9]*$ ]] || { echo "build.sh: --jobs wants a number (got '$JOBS')" >&2; exit 2; }
BUILD_DIR=${BUILD_DIR:-$ROOT/build-docker-$VARIANT}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$PREFIX" "$BUILD_DIR"
PREFIX=$(cd "$PREFIX" && pwd)
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

# As scripts/test.sh: nvcc may live outside PATH.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

cache_value() {  # cache_value NAME: the value of NAME in the build dir's CMakeCache.txt, empty when unset.
  sed -n "s/^$1:[A-Z]*=//p" "$BUILD_DIR/CMakeCache.txt" | head -1
}

if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
  service=$(cache_value FTD_SERVICE)
  cuda_setting=$(cache_value FTD_CUDA)
  cuda_compiler=$(cache_value CMAKE_CUDA_COMPILER)
  # The top-level CMakeLists.txt turns CUDA on exactly when FTD_CUDA is not OFF and a CUDA compiler was found.
  tree_cuda=OFF
  if [ "${cuda_setting^^}" != OFF ] && [ -n "$cuda_compiler" ] && [[ $cuda_compiler != *NOTFOUND ]]; then
    tree_cuda=ON
  fi
  case ${service^^} in ON|TRUE|1|YES) ;; *)
    echo "build.sh: $BUILD_DIR is configured with FTD_SERVICE=$service; every image needs the service parts" >&2
    exit 1 ;;
  esac
  if [ "$VARIANT" != coordinator ] && [ "$tree_cuda" != "$CUDA" ]; then
    echo "build.sh: $BUILD_DIR builds with CUDA $tree_cuda but $VARIANT needs CUDA $CUDA;" \
         "use another --build-dir (a fresh one is configured for the variant)" >&2
    exit 1
  fi
  echo "build.sh: reusing $BUILD_DIR as configured (FTD_SERVICE=$service, CUDA $tree_cuda)"
else
  CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
  if command -v ccache >/dev/null 2>&1; then
    CMAKE_ARGS+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
      -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  # The variant's own settings. FTD_FUZZ only registers a test. CMAKE_INSTALL_RPATH_USE_LINK_PATH keeps, in the
  # installed binaries, the link directories outside the system ones (OpenBLAS's openmp/ folder, the CUDA
  # toolkit's lib folder), so they load the same libraries as the built ones.
  CMAKE_ARGS+=(-DFTD_SERVICE=ON "-DFTD_CUDA=$CUDA" -DFTD_FUZZ=OFF -DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON)
  echo "build.sh: configuring $BUILD_DIR for $VARIANT"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${CMAKE_ARGS[@]}" >"$BUILD_DIR/configure.log" 2>&1 || {
    tail -40 "$BUILD_DIR/configure.log" >&2
    echo "build.sh: configuring $BUILD_DIR failed (full log: $BUILD_DIR/configure.log)" >&2
    exit 1
  }
fi
[ "$CONFIGURE_ONLY" = 1 ] && { echo "build.sh: configured $BUILD_DIR"; exit 0; }

echo "build.sh: building ${TARGETS[*]} in $BUILD_DIR (-j$JOBS)"
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"
for target in "${TARGETS[@]}"; do
  cmake --install "$BUILD_DIR" --prefix "$PREFIX" --component "$target" --strip >/dev/null
  [ -x "$PREFIX/bin/$target" ] || { echo "build.sh: $target was not installed into $PREFIX/bin" >&2; exit 1; }
done
echo "build.sh: installed ${TARGETS[*]} into $PREFIX/bin"
