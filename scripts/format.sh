#!/usr/bin/env bash
# Format every C source and header with the repository's .clang-format.
#   bash scripts/format.sh           rewrite files in place
#   bash scripts/format.sh --check   change nothing; fail if any file would change
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mapfile -t files < <(find src include tests bench fuzz python -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "format.sh: no C files found"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run -Werror "${files[@]}"
  echo "format.sh: ${#files[@]} files already formatted"
else
  clang-format -i "${files[@]}"
  echo "format.sh: formatted ${#files[@]} files"
fi
