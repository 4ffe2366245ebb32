#!/usr/bin/env bash
# The packages an image variant's final stage installs: those that provide the shared libraries its binaries
# load, nothing else. The Dockerfiles install exactly this output; tests/docker checks it against `ldd`.
#
#   docker/runtime-packages.sh coordinator|worker-cpu|worker-cuda   the packages, one a line
#   docker/runtime-packages.sh --derive BINARY...                    derive the list again (see below)
#
# How the lists were derived (Debian 12.11, the build tree of scripts/test.sh, Nov 2025): `--derive` on the
# binaries docker/build.sh installs (ftd and ftctl; ftd-worker), i.e. every library `ldd` resolves (the whole
# closure, not only DT_NEEDED) mapped to its package with `dpkg -S`. Libraries no Debian package provides come
# from NVIDIA's CUDA apt repository for Debian 12 (worker-cuda only) and are mapped by soname with NVIDIA_SONAMES.
# ldd lists libraries of the base system too (libc6, libstdc++6, ...): they stay listed, as derived; apt skips
# what debian:12-slim already holds. After a change to what the binaries link, run --derive on the built binaries
# (their RUNPATH picks OpenBLAS's openmp build over Debian's alternative) and update the lists.
set -euo pipefail

# Both images' service stack (ftd, ftctl and ftd-worker all link gRPC, protobuf and absl).
SERVICE=(
  libabsl20220623 libbrotli1 libc-ares2 libc6 libgcc-s1 libgrpc++1.51 libgrpc29 libprotobuf32 libre2-9 libssl3
  libstdc++6 zlib1g
)
COORDINATOR=(
  "${SERVICE[@]}"
  libbz2-1.0 libcpp-httplib0.11 libgflags2.2 liblz4-1 librocksdb7.8 libsnappy1v5 libzstd1  # ftd: RocksDB, HTTP
  libpcre2-8-0 libutf8proc2 libyaml-cpp0.7                                                  # ftctl: tokenizer, specs
)
WORKER_CPU=(
  "${SERVICE[@]}"
  libbz2-1.0 libcpp-httplib0.11 libgflags2.2 liblz4-1 librocksdb7.8 libsnappy1v5 libzstd1  # checkpoints, HTTP
  libgloo0 libhiredis0.14 libibverbs1 libnl-3-200 libnl-route-3-200                       # CPU collectives (Gloo)
  libopenblas0-openmp libgfortran5 libgomp1 libquadmath0                                   # kernels: BLAS, OpenMP
  libpcre2-8-0 libutf8proc2 libyaml-cpp0.7                                                  # tokenizer, job specs
)
# CUDA 13.0 from NVIDIA's repository (the build stage's toolkit; keep the two in step, see worker-cuda.Dockerfile).
WORKER_CUDA=("${WORKER_CPU[@]}" cuda-cudart-13-0 libcublas-13-0 libnccl2)  # CUDA backend, NCCL collective

# Sonames of NVIDIA's CUDA libraries -> the package of NVIDIA's Debian 12 repository that ships them.
declare -A NVIDIA_SONAMES=(
  [libcudart.so.13]=cuda-cudart-13-0
  [libcublas.so.13]=libcublas-13-0
  [libcublasLt.so.13]=libcublas-13-0
  [libnccl.so.2]=libnccl2
)

candidates() {  # candidates PATH: the names dpkg may know PATH by (/usr-merge aliases, symlinks resolved).
  local path=$1 real
  real=$(readlink -f "$path")
  printf '%s\n' "$path" "$real" "/usr$path" "/usr$real" "${path#/usr}" "${real#/usr}" | grep '^/' | sort -u
}

derive() {
  local binary line path package status=0
  local -a sonames=() paths=()
  for binary in "$@"; do
    [ -x "$binary" ] || { echo "runtime-packages: $binary: not an executable" >&2; return 1; }
    while read -r line; do
      if [[ $line == *"=> not found"* ]]; then
        echo "runtime-packages: $binary: ${line%% *} not found (set LD_LIBRARY_PATH?)" >&2
        status=1; continue
      fi
      if [[ $line =~ ^([^[:space:]]+)[[:space:]]+=\>[[:space:]]+(/[^[:space:]]+) ]]; then
        sonames+=("${BASH_REMATCH[1]}") paths+=("${BASH_REMATCH[2]}")
      elif [[ $line =~ ^(/[^[:space:]]+)[[:space:]]+\( ]]; then
        sonames+=("${BASH_REMATCH[1]##*/}") paths+=("${BASH_REMATCH[1]}")  # the dynamic loader
      fi  # else linux-vdso and the like: no file
    done < <(ldd "$binary")
  done
  # One dpkg -S for every name of every library (one call per name takes seconds each).
  declare -A owner_of=() found=()
  local -a names=()
  for path in "${paths[@]}"; do mapfile -t -O "${#names[@]}" names < <(candidates "$path"); done
  while read -r line; do
    [[ $line =~ ^([^:,[:space:]]+)(:[a-z0-9]+)?:\ (/.*)$ ]] || continue  # "libfoo1:amd64: /path"
    owner_of[${BASH_REMATCH[3]}]=${BASH_REMATCH[1]}
  done < <([ ${#names[@]} -eq 0 ] || dpkg -S "${names[@]}" 2>/dev/null)
  local i name
  for i in "${!paths[@]}"; do
    package=
    while read -r name; do
      [ -n "${owner_of[$name]:-}" ] && { package=${owner_of[$name]}; break; }
    done < <(candidates "${paths[$i]}")
    [ -n "$package" ] || package=${NVIDIA_SONAMES[${sonames[$i]}]:-}
    if [ -z "$package" ]; then
      echo "runtime-packages: no package provides ${paths[$i]}" >&2
      status=1; continue
    fi
    found[$package]=1
  done
  [ ${#found[@]} -eq 0 ] || printf '%s\n' "${!found[@]}" | sort
  return $status
}

case ${1:-} in
  coordinator) printf '%s\n' "${COORDINATOR[@]}" | sort -u ;;
  worker-cpu) printf '%s\n' "${WORKER_CPU[@]}" | sort -u ;;
  worker-cuda) printf '%s\n' "${WORKER_CUDA[@]}" | sort -u ;;
  --derive) shift; [ $# -gt 0 ] || { echo "runtime-packages: --derive wants binaries" >&2; exit 2; }; derive "$@" ;;
  *)
    echo "usage: docker/runtime-packages.sh coordinator|worker-cpu|worker-cuda | --derive BINARY..." >&2
    exit 2 ;;
esac
