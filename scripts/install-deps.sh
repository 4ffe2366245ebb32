#!/usr/bin/env bash
# Installs every Debian 12 package that ftd's build and tests need. Idempotent: quiet when all is there.
# The CUDA toolkit is not a Debian package: the build uses it when nvcc is found (PATH or /usr/local/cuda).
set -euo pipefail

# One list, grouped by what needs it. Keep in step with docs/ARCHITECTURE.md ("Dependencies").
PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ccache
  # compute parts (these also travel to bare GPU machines, see scripts/compute-prefix.sh)
  libabsl-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libopenblas-dev libopenblas-openmp-dev
  libpcre2-dev libutf8proc-dev
  # service parts: gRPC API, state store, CPU collectives, HTTP endpoints
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libgloo-dev libcpp-httplib-dev libssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-grpcio python3-grpc-tools python3-protobuf
  prometheus
  chromium
  # deploy checks (tests/deploy); kubectl below
  python3-kubernetes
  # the demo's general English text (scripts/demo.sh, scripts/demo/prepare_data.py)
  fortunes fortunes-min jargon-text debian-faq
)

# kubectl renders deploy/k8s (tests/deploy): Debian's kubernetes-client, unless a kubectl is there already (another
# package's, e.g. Google's, which Debian's would clash with on /usr/bin/kubectl).
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${#missing[@]} Debian package(s): ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install-deps: missing packages and not root (and no password-less sudo); install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found: ftd's scripts target Debian 12; install these packages: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are absent or older than a day (a fresh image has none).
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -1)" ]; then
  "${SUDO[@]}" apt-get update -qq || { echo "install-deps: apt-get update failed (network?)" >&2; exit 1; }
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ftd-install-deps.log 2>&1; then
  tail -20 /tmp/ftd-install-deps.log >&2
  echo "install-deps: apt-get install failed; full log in /tmp/ftd-install-deps.log" >&2
  exit 1
fi
echo "install-deps: done"
