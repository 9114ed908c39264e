# shellcheck shell=bash
# Helpers shared by the end-to-end tests in tests/e2e/*.sh (sourced, not a
# test itself: the .bash suffix keeps it out of the *.sh glob of ctest).
#
# Environment (set by ctest, see tests/CMakeLists.txt; guessed when run by hand):
#   CLEANROOM   the built command
#   CR_TOOLS    the tests build folder (test programs such as cr_forge)
#   CR_SRC      the source root
#   CR_TESTLIB  tests/lib.sh (CLI helpers); sourced when present, but these
#               scripts only rely on the e2e_* functions below.
#
# Every test gets a scratch folder $SCRATCH under ${TMPDIR:-/tmp}, removed on
# exit, and a vault at $REPO with passphrase $PASS once e2e_init_vault ran.

set -euo pipefail

E2E_NAME=$(basename "$0" .sh)
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CR_SRC:=$(cd "$E2E_DIR/../.." && pwd)}"

if [ -z "${CLEANROOM:-}" ]; then
    for c in "$CR_SRC"/build*/cleanroom; do
        if [ -x "$c" ]; then CLEANROOM=$c; break; fi
    done
fi
if [ -z "${CLEANROOM:-}" ] || [ ! -x "$CLEANROOM" ]; then
    echo "FAIL: $E2E_NAME: CLEANROOM (the built command) is not set or not executable" >&2
    exit 1
fi
: "${CR_TOOLS:=$(dirname "$CLEANROOM")/tests}"
export CLEANROOM CR_TOOLS CR_SRC

E2E_T0=$(date +%s)

e2e_log() { printf '[%s %3ss] %s\n' "$E2E_NAME" "$(($(date +%s) - E2E_T0))" "$*" >&2; }

e2e_fail() {
    printf 'FAIL: %s: %s\n' "$E2E_NAME" "$*" >&2
    exit 1
}

# Exit code 77 = skipped (needs SKIP_RETURN_CODE 77 in ctest to show as such).
e2e_skip() {
    printf 'SKIP: %s: %s\n' "$E2E_NAME" "$*" >&2
    exit 77
}

# e2e_fail_later MSG: record a failure but go on checking the rest (for
# assertions whose failure does not invalidate the later steps).
E2E_LATER=()
e2e_fail_later() {
    printf 'FAIL (continuing): %s: %s\n' "$E2E_NAME" "$*" >&2
    E2E_LATER+=("$*")
}

e2e_pass() {
    if [ "${#E2E_LATER[@]}" -gt 0 ]; then
        printf 'FAIL: %s: %d failure(s):\n' "$E2E_NAME" "${#E2E_LATER[@]}" >&2
        printf '  - %s\n' "${E2E_LATER[@]}" >&2
        exit 1
    fi
    e2e_log "PASS ($(($(date +%s) - E2E_T0)) s)"
    exit 0
}

e2e_require_root() { [ "$(id -u)" -eq 0 ] || e2e_skip "needs root"; }

# Kill the background jobs this test started (by pid, never by name).
e2e_kill_jobs() {
    local p
    for p in $(jobs -p 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

if [ -n "${CR_TESTLIB:-}" ] && [ -f "$CR_TESTLIB" ]; then
    # tests/lib.sh makes $SCRATCH, removes it on exit and runs on_exit hooks.
    # shellcheck disable=SC1090
    . "$CR_TESTLIB"
    set -euo pipefail
    on_exit e2e_kill_jobs
else
    e2e_cleanup() {
        local rc=$?
        e2e_kill_jobs
        if [ -n "${SCRATCH:-}" ] && [ -d "$SCRATCH" ]; then
            chmod -R u+rwX "$SCRATCH" 2>/dev/null || true
            rm -rf "$SCRATCH"
        fi
        return "$rc"
    }
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cr-e2e-$E2E_NAME.XXXXXX")
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
fi
# Unprivileged users (vanishing.sh) must be able to enter it.
chmod 0755 "$SCRATCH"

PASS="correct horse battery staple $E2E_NAME"
export CLEANROOM_PASSWORD="$PASS"
unset CLEANROOM_PASSWORD_FILE CLEANROOM_NEW_PASSWORD CLEANROOM_NEW_PASSWORD_FILE CLEANROOM_REPO || true
REPO="$SCRATCH/vault"

# cr ARGS...: the command on $REPO (output goes where the caller sends it).
cr() { "$CLEANROOM" --repo "$REPO" "$@"; }

# e2e_run ARGS...: run `cr ARGS` capturing stdout in $OUT, stderr in $ERR,
# the exit code in $RC; never fails itself. A crash (signal) fails the test.
OUT="$SCRATCH/.out"
ERR="$SCRATCH/.err"
RC=0
e2e_run() {
    RC=0
    cr "$@" >"$OUT" 2>"$ERR" || RC=$?
    if [ "$RC" -ge 124 ]; then
        e2e_show
        e2e_fail "'cleanroom $*' crashed or was killed (exit $RC)"
    fi
    return 0
}

e2e_show() {
    echo "--- stdout:" >&2
    head -c 4000 "$OUT" >&2 || true
    echo "--- stderr:" >&2
    head -c 4000 "$ERR" >&2 || true
    echo "---" >&2
}

# e2e_expect_rc WANT WHAT: fail unless the last e2e_run exited with WANT.
e2e_expect_rc() {
    if [ "$RC" -ne "$1" ]; then
        e2e_show
        e2e_fail "$2: expected exit $1, got $RC"
    fi
}

# e2e_ok ARGS...: run and require exit 0.
e2e_ok() {
    e2e_run "$@"
    e2e_expect_rc 0 "cleanroom $*"
}

e2e_init_vault() {
    e2e_ok init --kdf interactive
}

# e2e_json_get FILE EXPR: evaluate a Python expression on the JSON document
# `j` read from FILE (e.g. 'j["bytes_new"]', 'len(j)').
e2e_json_get() {
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"
}

# Snapshot id (64 hex) from the JSON object printed by `backup --json`.
e2e_backup_id() { e2e_json_get "$OUT" 'j["id"]'; }

# e2e_checksums DIR: sorted "sha256  relative path" of every regular file
# (names escaped by sha256sum if needed), stable across runs.
e2e_checksums() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --)
}

# e2e_restored_root TARGET SOURCE_PATH: where the backed-up SOURCE_PATH ended
# up under TARGET (restic style TARGET/full/path, or TARGET/basename).
e2e_restored_root() {
    local t=$1 src=$2
    if [ -e "$t$src" ]; then
        printf '%s\n' "$t$src"
    elif [ -e "$t/$(basename "$src")" ]; then
        printf '%s\n' "$t/$(basename "$src")"
    else
        echo "e2e_restored_root: $src not found under $t; top of the target:" >&2
        (cd "$t" && find . -maxdepth 3 | head -20) >&2
        return 1
    fi
}

# e2e_treecmp A B [options]: metadata + content comparison (tests/e2e/treecmp.py).
e2e_treecmp() { python3 "$E2E_DIR/treecmp.py" "$@"; }

# e2e_vault_state DIR: every path of the vault with type, mode, size and the
# sha256 of files, so that "vault unchanged" is one comparison.
e2e_vault_state() {
    (cd "$1" && find . -printf '%y %m %s %p\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --)
}

# Number of (complete) pack files in the vault: named by 64 hex digits.
e2e_pack_count() { e2e_pack_list | wc -l; }
# "size path" of every complete pack, sorted (for comm).
e2e_pack_list() {
    find "$REPO/data" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' -printf '%s %p\n' 2>/dev/null |
        LC_ALL=C sort
}
