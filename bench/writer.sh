#!/usr/bin/env bash
# End to end: `signmf recommend MODEL --all > /dev/null` against the
# library call alone in a process of its own (`bench_writer MODEL --once`:
# the same model open, signmf_recommend_all with a no-op callback), in one
# hyperfine run, and optionally an older signmf binary beside them.
#
#   bash bench/writer.sh MODEL [--build DIR] [--old PATH/TO/signmf] [--runs N] [--json]
#
# Prints each command's median and its ratio to the library-only run.
# hyperfine -N sends stdout to /dev/null.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model=${1:?usage: writer.sh MODEL [--build DIR] [--old SIGNMF] [--runs N] [--json]}
shift
build=build old= runs=30 json=
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --old) old=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --json) json=--json; shift ;;
    *) echo "writer.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
S=$build/src/cli/signmf
B=$build/bench/bench_writer
for f in "$S" "$B"; do
  [ -x "$f" ] || { echo "writer.sh: $f not built (meson compile -C $build)" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cmds=("$B $model --once" "$S recommend $model --all${json:+ $json}")
[ -n "$old" ] && cmds+=("$old recommend $model --all${json:+ $json}")
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/h.json" "${cmds[@]}" >/dev/null
/usr/bin/python3 - "$out/h.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
lib = res[0]["median"]
for r in res:
    print(f"{r['median'] * 1e3:9.2f} ms median ({r['min'] * 1e3:.2f}-{r['max'] * 1e3:.2f})"
          f"  {r['median'] / lib:5.2f}x  {r['command']}")
PY
