#!/usr/bin/env bash
# The packages an image's build stage installs before docker/build.sh: what configuring the service build needs
# (the top-level CMakeLists.txt finds every library whatever the targets; proto/ checks Debian's python3 for
# grpcio and protobuf; GTest is required) and what compiling ftd, ftctl and ftd-worker needs. A subset of
# scripts/install-deps.sh, which also brings test, benchmark and demo tools no image needs (tests/docker checks
# that every Debian package here is also there, so the two lists cannot drift apart).
#
#   docker/build-packages.sh coordinator|worker-cpu|worker-cuda
#
# worker-cuda adds CUDA 13.0's compiler, runtime headers and NCCL from NVIDIA's apt repository for Debian 12,
# which its Dockerfile adds first.
set -euo pipefail

DEBIAN=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # compute parts
  libabsl-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libopenblas-openmp-dev libpcre2-dev libutf8proc-dev
  # service parts
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler librocksdb-dev libgloo-dev
  libcpp-httplib-dev libssl-dev
  # configure-time checks: find_package(GTest REQUIRED), proto/'s Python check
  libgtest-dev libgmock-dev python3 python3-grpcio python3-protobuf
)
# FTD_CUDA=ON needs nvcc, cuda_runtime.h and cuBLAS (the CUDA backend), and NCCL (worker/collective/CMakeLists.txt). Keep the CUDA version
# in step with runtime-packages.sh's cuda-cudart-13-0.
NVIDIA=(cuda-nvcc-13-0 cuda-cudart-dev-13-0 libcublas-dev-13-0 libnccl-dev)

case ${1:-} in
  coordinator|worker-cpu) printf '%s\n' "${DEBIAN[@]}" ;;
  worker-cuda) printf '%s\n' "${DEBIAN[@]}" "${NVIDIA[@]}" ;;
  *) echo "usage: docker/build-packages.sh coordinator|worker-cpu|worker-cuda" >&2; exit 2 ;;
esac
