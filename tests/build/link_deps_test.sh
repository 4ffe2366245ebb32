#!/usr/bin/env bash
# Checks that compute binaries load no service library (protobuf, gRPC, RocksDB, Gloo): the compute parts
# must run on a bare GPU machine (DESIGN.md, compute-only build). A control binary that does link the
# service libraries must be caught, so the check is shown able to fail.
#   link_deps_test.sh [--scan-dir DIR] [--binary FILE]... [--control FILE]
set -euo pipefail

FORBIDDEN='lib(protobuf|protoc|grpc|grpc\+\+|gpr|rocksdb|gloo)[^ ]*\.so'
binaries=()
controls=()
while [ $# -gt 0 ]; do
  case "$1" in
    --scan-dir)
      # Every ELF executable in the tree, but the compilers' own probe binaries under CMakeFiles/.
      while IFS= read -r f; do
        if head -c 4 "$f" | grep -q 'ELF'; then binaries+=("$f"); fi
      done < <(find "$2" -type f -perm -u+x -not -path '*/CMakeFiles/*' -not -name '*.so*' -not -name '*.sh' -not -name '*.py')
      shift 2 ;;
    --binary) binaries+=("$2"); shift 2 ;;
    --control) controls+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--scan-dir DIR] [--binary FILE]... [--control FILE]" >&2; exit 2 ;;
  esac
done

if [ ${#binaries[@]} -eq 0 ]; then
  echo "FAIL: no compute binary to check" >&2
  exit 1
fi

# The shared libraries a binary loads, its whole runtime closure (ldd), one name per line.
loaded_libs() { ldd "$1" | awk '{print $1}'; }

failed=0
for b in "${binaries[@]}"; do
  bad=$(loaded_libs "$b" | grep -E "$FORBIDDEN" || true)
  if [ -n "$bad" ]; then
    echo "FAIL: compute binary $b loads service libraries: $(echo $bad)"
    failed=1
  else
    echo "ok: $(basename "$b") ($(loaded_libs "$b" | wc -l) libraries, none of protobuf/gRPC/RocksDB/Gloo)"
  fi
done
for c in "${controls[@]}"; do
  if loaded_libs "$c" | grep -qE "$FORBIDDEN"; then
    echo "ok: control $(basename "$c") is caught: $(loaded_libs "$c" | grep -E "$FORBIDDEN" | head -3 | tr '\n' ' ')"
  else
    echo "FAIL: control binary $c links no service library, so this check cannot tell"
    failed=1
  fi
done
[ $failed -eq 0 ] && echo "${#binaries[@]} compute binaries checked"
exit $failed
