# Shared scaffolding of the CLI test scripts (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"
#   cli_setup NAME PATH/TO/signmf   # absolute $exe; a temporary working
#                                   # directory, removed on exit, as cwd
#
# Then: ok DESC, bad DESC (shows ./err), skipped DESC, check DESC CMD...,
# run ARGS... (signmf with stdout in ./out, stderr in ./err, status in
# $rc); the counters are $pass, $fail and $skip.

pass=0
fail=0
skip=0

cli_setup() {
    exe=${2:?usage: $1 PATH/TO/signmf}
    case $exe in /*) ;; *) exe=$PWD/$exe ;; esac
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/signmf-$1.XXXXXX")
    # chmod first: a test may leave an unreadable file behind
    trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
    cd "$tmp" || exit 1
}

ok() {
    echo "ok   - $1"
    pass=$((pass + 1))
}

bad() {
    echo "FAIL - $1"
    fail=$((fail + 1))
    if [ -s err ]; then sed 's/^/       stderr: /' err | head -5; fi
}

skipped() {
    echo "skip - $1"
    skip=$((skip + 1))
}

check() { # DESC CONDITION...
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}

run() {
    "$exe" "$@" >out 2>err
    rc=$?
}
