#!/usr/bin/env bash
# Unpacks the Debian packages the compute-only build needs (no protobuf, gRPC, RocksDB or Gloo) into
# .deps/prefix (git-ignored), so a bare CUDA machine with no Debian dev packages can build the compute parts:
# the GPU check carries that folder (scripts/gpu-check.sh). Run here, on Debian 12; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-.deps/prefix}
DEBS=.deps/debs

# Runtime libraries are listed beside their -dev packages: the -dev ones hold only headers and .so links.
PACKAGES=(
  libabsl-dev libabsl20220623
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libyaml-cpp0.7
  libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2
  libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev libgfortran5
  libgtest-dev libgmock-dev
)

mkdir -p "$DEBS"
stamp="$PREFIX/.packages"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ]; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "compute-prefix: needs apt-get (Debian 12)" >&2; exit 1; }
(cd "$DEBS" && apt-get download -qq "${PACKAGES[@]}") || {
  echo "compute-prefix: apt-get download failed (run 'apt-get update' first?)" >&2; exit 1; }
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
for pkg in "${PACKAGES[@]}"; do
  deb=$(ls -t "$DEBS"/"${pkg}"_*.deb | head -1)
  dpkg -x "$deb" "$PREFIX"
done
# Drop what a build never reads.
rm -rf "$PREFIX/usr/share/doc" "$PREFIX/usr/share/lintian" "$PREFIX/usr/share/man"
# Static archives (but GoogleTest's, which only ship static) and LAPACK: the build links shared libraries and
# uses BLAS only; the carried tree must stay under the device tool's 64 MiB.
find "$PREFIX" \( \( -name '*.a' ! -name 'libgtest*' ! -name 'libgmock*' \) -o -name 'liblapack*' \) -delete
echo "${PACKAGES[*]}" >"$stamp"
echo "compute-prefix: $(du -sh "$PREFIX" | cut -f1) in $PREFIX"
