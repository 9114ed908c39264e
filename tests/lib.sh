# Shared helpers for the shell tests (tests/cli/*.sh, tests/e2e/*.sh).
#
# Source it first:   . "${CR_TESTLIB:?}"
# ctest sets CLEANROOM (the built command), CR_SRC (source root), CR_TOOLS
# (test programs) and CR_TESTLIB (this file).
#
# What it gives:
#   $SCRATCH            a fresh folder under ${TMPDIR:-/tmp}, removed on exit;
#                       the script runs with it as the working directory
#   CLEANROOM_PASSWORD  set to a test passphrase; other CLEANROOM_* variables
#                       are unset so the caller's environment cannot leak in
#   CLEANROOM_JOURNAL_SOCKET  a socket in $SCRATCH nothing listens on (alerts of the
#                       tests never reach the machine's journal)
#   cr ARGS...          run the cleanroom command
#   expect_exit CODE CMD...
#                       run CMD with stdout in $CR_OUT and stderr in $CR_ERR;
#                       fail (showing both) unless it exits with CODE
#   fail MSG            print "FAIL: MSG" and exit 1
#   pass [MSG]          print "ok: MSG" and go on (the script passes when it ends)
#   assert_eq GOT WANT MSG
#   assert_grep PATTERN FILE MSG     (grep -E)
#   test_rules DIR      write a small rule set (a web-shell YARA rule) and point
#                       CLEANROOM_RULES at it
#   on_exit CMD         run CMD (a string for eval) on exit, before $SCRATCH is removed;
#                       do not replace the EXIT trap yourself
#   run_as USER CMD...  run CMD as another account (root only). Every argument that is
#                       $CLEANROOM is replaced by a copy of it in shared_dir, so that it
#                       runs even when the build folder is in a private place (a clone in
#                       /root): the one way a test runs something as another account.
#                       CMD runs in / (the test's folder may be out of the account's
#                       reach): give it absolute paths
#   start_sink DIR [OPTIONS]
#                       start the local SMTP sink (tests/smtp_sink.py: mails, and with
#                       --journal SOCK the journal entries, kept in DIR; its port in
#                       DIR/port), stopped on exit; fail if it does not start
#   shared_dir          print a folder every account can enter (made on first use under
#                       /var/tmp, mode 0755, removed on exit): for the files another
#                       account must reach (a server's data folder...); $SCRATCH is the
#                       test's own and may sit under a private folder
#
# This file sets no shell options (set -e, ...); each script chooses its own.

: "${CLEANROOM:?set CLEANROOM to the built cleanroom command}"
# shellcheck source=reach.bash
. "$(dirname "${BASH_SOURCE[0]}")/reach.bash"

CR_TEST_NAME=$(basename "$0" .sh)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cleanroom-${CR_TEST_NAME}.XXXXXX") || {
    echo "FAIL [$CR_TEST_NAME]: cannot create a scratch folder" >&2
    exit 1
}
mkdir -p "$SCRATCH/.lib"
CR_OUT=$SCRATCH/.lib/out
CR_ERR=$SCRATCH/.lib/err
_cr_on_exit=

_cr_cleanup() {
    local rc=$?
    eval "$_cr_on_exit" 2>/dev/null
    [ -f "$SCRATCH/.lib/shared" ] && rm -rf "$(cat "$SCRATCH/.lib/shared")"
    # Tests make files unreadable on purpose: give them back before removing.
    chmod -R u+rwX "$SCRATCH" 2>/dev/null
    rm -rf "$SCRATCH"
    exit $rc
}
trap _cr_cleanup EXIT
trap 'exit 130' INT TERM

on_exit() {
    _cr_on_exit="$_cr_on_exit
$1"
}

unset CLEANROOM_REPO CLEANROOM_PASSWORD_FILE CLEANROOM_NEW_PASSWORD CLEANROOM_NEW_PASSWORD_FILE \
      CLEANROOM_PASSWORD_COMMAND CLEANROOM_NEW_PASSWORD_COMMAND
export CLEANROOM_PASSWORD='test passphrase: correct horse'
# Alerts (job run, status --notify) go to this socket, which nothing reads unless a test
# listens on it: never to the journal or syslog of the machine running the tests.
export CLEANROOM_JOURNAL_SOCKET=$SCRATCH/.lib/journal.sock
cd "$SCRATCH" || exit 1

cr() {
    "$CLEANROOM" "$@"
}

start_sink() {
    local d=$1
    shift
    python3 "$CR_SRC/tests/smtp_sink.py" "$d" "$@" &
    on_exit "kill $! 2>/dev/null"
    for _ in $(seq 100); do [ -f "$d/port" ] && break; sleep 0.1; done
    [ -f "$d/port" ] || fail "the SMTP sink did not start"
}

# test_rules DIR: a rule set in DIR (one YARA rule, high: PHP evaluating request
# data, i.e. a web shell; empty ransomware lists) and CLEANROOM_RULES set to it.
test_rules() {
    mkdir -p "$1/yara"
    cat > "$1/yara/test.yar" <<'RULES'
rule test_php_webshell
{
    meta:
        severity = "high"
        description = "PHP code that evaluates request data (web shell)"
    strings:
        $e = /eval\s*\(\s*\$_(POST|GET|REQUEST)/
    condition:
        $e
}
RULES
    : > "$1/ransomware-extensions.txt"
    : > "$1/ransom-notes.txt"
    CLEANROOM_RULES=$(cd "$1" && pwd -P)
    export CLEANROOM_RULES
}

# The path is kept in a file, so that a first call from a subshell ($(shared_dir))
# is remembered and the folder removed on exit all the same.
shared_dir() {
    local f=$SCRATCH/.lib/shared d
    if [ ! -f "$f" ]; then
        d=$(reachable_dir "cleanroom-$CR_TEST_NAME") || fail "cannot make a folder under /var/tmp"
        printf '%s\n' "$d" >"$f"
    fi
    cat "$f"
}

run_as() {
    local user=$1 d a args=()
    shift
    d=$(shared_dir) || exit 1
    if [ ! -x "$d/cleanroom" ]; then
        cp "$CLEANROOM" "$d/cleanroom.tmp" && chmod 755 "$d/cleanroom.tmp" &&
            mv "$d/cleanroom.tmp" "$d/cleanroom" || fail "cannot copy $CLEANROOM to $d"
    fi
    for a in "$@"; do
        [ "$a" = "$CLEANROOM" ] && a=$d/cleanroom
        args+=("$a")
    done
    (cd / && runuser -u "$user" -- "${args[@]}")
}

fail() {
    echo "FAIL [$CR_TEST_NAME]: $*" >&2
    exit 1
}

pass() {
    echo "ok [$CR_TEST_NAME]${1:+: $*}"
}

expect_exit() {
    local want=$1 got=0
    shift
    "$@" >"$CR_OUT" 2>"$CR_ERR" || got=$?
    if [ "$got" != "$want" ]; then
        {
            echo "--- stdout of: $*"
            head -c 4000 "$CR_OUT"
            echo "--- stderr:"
            head -c 4000 "$CR_ERR"
        } >&2
        fail "expected exit $want, got $got: $*"
    fi
}

assert_eq() {
    [ "$1" = "$2" ] || fail "${3:-values differ}: got '$1', want '$2'"
}

assert_grep() {
    grep -Eq -- "$1" "$2" || {
        echo "--- $2:" >&2
        head -c 4000 "$2" >&2
        fail "${3:-no match for '$1' in $2}"
    }
}
