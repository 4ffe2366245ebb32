#!/usr/bin/env bash
# Builds the safetensors libFuzzer target with clang++ (the main build's g++ has no libFuzzer) and fuzzes it
# for FTD_FUZZ_SECONDS (default 20) from a seed corpus written here. Exit 0: no crash; 1: a crash, a
# sanitizer report or a build failure; 77: skipped, no clang++ with a working fuzzer runtime.
#
# Usage: run_fuzz.sh --source-dir DIR --build-dir DIR [--seconds N]
set -euo pipefail

source_dir=""
build_dir=""
seconds="${FTD_FUZZ_SECONDS:-20}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --source-dir) source_dir="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "run_fuzz.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done
[[ -n "$source_dir" && -n "$build_dir" ]] || { echo "usage: run_fuzz.sh --source-dir DIR --build-dir DIR" >&2; exit 1; }

cxx="${FTD_FUZZ_CXX:-clang++}"
sanitizers="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$build_dir"

# Skip (77) unless the compiler can link a fuzzer: clang without compiler-rt fails here, not later.
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "SKIP: $cxx not found; install clang to fuzz the safetensors parser"
  exit 77
fi
probe="$build_dir/probe.cc"
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' > "$probe"
if ! "$cxx" $sanitizers "$probe" -o "$build_dir/probe" >"$build_dir/probe.log" 2>&1; then
  echo "SKIP: $cxx cannot build a libFuzzer binary (fuzzer runtime missing?):"
  head -5 "$build_dir/probe.log"
  exit 77
fi

# absl from the system: pkg-config where present, else every absl library beside libabsl_status.
if pkg-config --exists absl_statusor absl_strings absl_str_format 2>/dev/null; then
  absl_libs="$(pkg-config --libs absl_statusor absl_strings absl_str_format)"
else
  status_lib="$("$cxx" -print-file-name=libabsl_status.so)"
  [[ "$status_lib" == /* ]] || { echo "run_fuzz.sh: cannot find libabsl_status.so" >&2; exit 1; }
  absl_libs="-L$(dirname "$status_lib") $(ls "$(dirname "$status_lib")"/libabsl_*.so | sed 's|.*/lib\(absl_[a-z0-9_]*\)\.so|-l\1|' | tr '\n' ' ')"
fi

sources=(model/safetensors.cc model/file_io.cc model/strict_json.cc model/dtype.cc model/tensor.cc common/status_macros.cc common/logging.cc
         tests/fuzz/safetensors_fuzz.cc)
binary="$build_dir/safetensors_fuzz"
# Rebuild only when a source, a header of model/ or common/, or this script is newer than the binary.
if [[ ! -x "$binary" ]] || [[ -n "$(cd "$source_dir" && find "${sources[@]}" model/*.h common/*.h tests/fuzz/run_fuzz.sh -newer "$binary" 2>/dev/null)" ]]; then
  echo "building $binary with $cxx"
  mkdir -p "$build_dir/obj"
  # Two compilers at a time: the machines this runs on are small.
  if ! printf '%s\n' "${sources[@]}" | xargs -P 2 -I{} sh -c \
      'src="$1"; "$2" -std=c++20 -O1 -g $3 -I"$4" -c "$4/$src" -o "$5/obj/$(echo "$src" | tr / _).o"' \
      _ {} "$cxx" "$sanitizers" "$source_dir" "$build_dir"; then
    echo "FAIL: compiling the fuzz target"
    exit 1
  fi
  objects=()
  for src in "${sources[@]}"; do objects+=("$build_dir/obj/$(echo "$src" | tr / _).o"); done
  if ! "$cxx" $sanitizers "${objects[@]}" $absl_libs -o "$binary"; then
    echo "FAIL: linking the fuzz target"
    exit 1
  fi
fi

# Seeds: small valid images and near misses, written from text so nothing binary is committed.
seeds="$build_dir/seeds"
rm -rf "$seeds"
mkdir -p "$seeds" "$build_dir/corpus"
seed() {  # seed NAME HEADER DATA_BYTES: 8-byte little-endian length, header, zero data bytes.
  local n=${#2}
  {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((n & 255)) $(((n >> 8) & 255)) \
      $(((n >> 16) & 255)) $(((n >> 24) & 255)))"
    printf '%s' "$2"
    head -c "$3" /dev/zero
  } >"$seeds/$1"
}
seed empty '{}      ' 0
seed metadata '{"__metadata__":{"format":"pt"}}' 0
seed one_f32 '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 16
seed two '{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}}' 14
seed scalar_and_empty '{"s":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"e":{"dtype":"F16","shape":[0,5],"data_offsets":[1,1]}}' 1
seed gap '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}' 12
seed overlap '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
seed truncated '{"w":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}}' 7
seed overflow '{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}' 0
dict="$build_dir/safetensors.dict"
printf '%s\n' '"\"dtype\""' '"\"shape\""' '"\"data_offsets\""' '"\"__metadata__\""' '"\"F32\""' '"\"BF16\""' \
  '"\"F16\""' '"\"I64\""' '"\"BOOL\""' '"\"U8\""' '"18446744073709551615"' '"9223372036854775807"' '"-1"' \
  '"1e999"' '"null"' '"\\u0000"' >"$dict"

echo "fuzzing for ${seconds}s (corpus $build_dir/corpus)"
if ! "$binary" "$build_dir/corpus" "$seeds" -dict="$dict" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$build_dir/" \
    -print_final_stats=1 2>"$build_dir/fuzz.log"; then
  tail -60 "$build_dir/fuzz.log"
  echo "FAIL: the fuzzer found a crash; the input is saved under $build_dir/ (crash-*, timeout-*, oom-*)"
  exit 1
fi
grep -E '^stat::(number_of_executed_units|new_units_added)' "$build_dir/fuzz.log" || true
echo "PASS: no crash in ${seconds}s"
