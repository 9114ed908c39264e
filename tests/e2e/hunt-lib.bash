# shellcheck shell=bash
# Helpers shared by the hunt scenarios (tests/e2e/hunt_*.sh). Sourced after
# e2e-lib.bash; not a test itself (the .bash suffix keeps it out of ctest's glob).
#
#   hunt_debs PKG...      cache real .deb files of the Debian mirror (apt-get
#                         download on this machine) and print the cache folder
#   hunt_dpkg_install TREE DEB...
#                         install .deb files into TREE with the tree's own dpkg
#                         (chroot), daemons kept from starting (policy-rc.d)
#   hunt_findings FILE ARGS...
#                         `cleanroom findings --json ARGS` into FILE (a JSON list)
#   hunt_py FILE... <<'EOF' ... EOF
#                         run a Python check on JSON files: j[0], j[1]... are the
#                         documents, with helpers (see HUNT_PY_PRELUDE)
#   hunt_no_escape FILE WHAT
#                         fail unless FILE is free of raw ESC bytes

HUNT_CACHE="${CLEANROOM_TEST_CACHE:-/var/tmp/cleanroom-test}"

# The scenarios start Python a few hundred times; a version manager's shim
# (pyenv) in front of python3 costs a second per start. The system's python3
# is enough (standard library only).
HUNT_PY=python3
[ -x /usr/bin/python3 ] && HUNT_PY=/usr/bin/python3

# hunt_json FILE EXPR: like e2e_json_get, with $HUNT_PY.
hunt_json() {
    "$HUNT_PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"
}

# hunt_debs PKG...: the .deb files of PKG... (this machine's apt sources, which
# point at the Debian mirror) downloaded once into $HUNT_CACHE/debs/ and reused.
# Prints the folder. Returns 1 (message on stderr) if the mirror is unreachable.
hunt_debs() {
    local dir="$HUNT_CACHE/debs" missing=() p
    mkdir -p "$dir" || return 1
    for p in "$@"; do
        compgen -G "$dir/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        command -v apt-get >/dev/null || { echo "hunt_debs: no apt-get" >&2; return 1; }
        (
            flock 9
            local tmp
            tmp=$(mktemp -d "$dir/.download.XXXXXX") || exit 1
            # _apt cannot write into a root-only temporary folder: let it.
            chmod 0755 "$tmp"
            chown _apt "$tmp" 2>/dev/null || true
            if ! (cd "$tmp" && apt-get download "${missing[@]}") >"$tmp.log" 2>&1; then
                echo "hunt_debs: apt-get download ${missing[*]} failed:" >&2
                tail -n 5 "$tmp.log" >&2
                rm -rf "$tmp" "$tmp.log"
                exit 1
            fi
            # Complete files only: renamed into place one by one.
            for f in "$tmp"/*.deb; do mv -f "$f" "$dir/"; done
            rm -rf "$tmp" "$tmp.log"
        ) 9>"$dir/.lock" || return 1
    fi
    printf '%s\n' "$dir"
}

# hunt_deb_file NAME: the cached .deb of package NAME (newest if several).
hunt_deb_file() {
    local f
    f=$(find "$HUNT_CACHE/debs" -maxdepth 1 -name "${1}_*.deb" | sort -V | tail -n1)
    [ -n "$f" ] || { echo "hunt_deb_file: no cached .deb for $1" >&2; return 1; }
    printf '%s\n' "$f"
}

# hunt_dpkg_install TREE PKG...: what `apt install` does on the server: the
# .deb files are put in TREE/var/cache/apt/archives (apt keeps them there) and
# installed by the tree's own dpkg in a chroot, so maintainer scripts run
# (groups added, systemd links made). TREE/usr/sbin/policy-rc.d must deny
# starting daemons. Packages are installed in the order given, one dpkg run
# each, so that pre-dependencies are configured first.
hunt_dpkg_install() {
    local tree=$1 p f
    shift
    mkdir -p "$tree/var/cache/apt/archives"
    for p in "$@"; do
        f=$(hunt_deb_file "$p") || return 1
        cp "$f" "$tree/var/cache/apt/archives/"
        if ! chroot "$tree" dpkg --force-confold -i "/var/cache/apt/archives/$(basename "$f")" \
            >"$SCRATCH/.dpkg.log" 2>&1; then
            tail -n 20 "$SCRATCH/.dpkg.log" >&2
            echo "hunt_dpkg_install: dpkg -i $(basename "$f") failed in $tree" >&2
            return 1
        fi
    done
}

# hunt_findings FILE ARGS...: `findings --json ARGS` into FILE; fails the test
# unless it exits 0.
hunt_findings() {
    local f=$1
    shift
    e2e_run --json findings "$@"
    e2e_expect_rc 0 "findings $*"
    cp "$OUT" "$f"
}

HUNT_PY_PRELUDE='
import json, sys
SEV = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
def load(p):
    with open(p) as fh:
        return json.load(fh)
j = [load(p) for p in sys.argv[1:]]
def items(doc):
    """The list of findings of a findings --json document (a list, or an object holding one)."""
    if isinstance(doc, list):
        return doc
    for k in ("findings", "items", "results"):
        if isinstance(doc.get(k), list):
            return doc[k]
    return []
def sev(f):
    s = f.get("severity")
    return SEV.get(s, -1) if isinstance(s, str) else int(s)
def sid(x):
    """Snapshot id of a finding or a value (full hex, or a short prefix)."""
    if isinstance(x, dict):
        x = x.get("snapshot") or x.get("snapshot_id") or x.get("short_id") or ""
    return str(x)
def same_snap(a, b):
    a, b = sid(a), sid(b)
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))
def show(f):
    return "%s %s %s %s%s" % (f.get("severity"), f.get("indicator"), f.get("path"),
        f.get("detail", ""), (" [evidence: %s]" % f["evidence"]) if f.get("evidence") else "")
'

# hunt_py FILE...: run the Python program on stdin after HUNT_PY_PRELUDE,
# with the JSON documents of FILE... in j[]. Its exit status is returned.
hunt_py() {
    local prog
    prog="$HUNT_PY_PRELUDE$(cat)"
    "$HUNT_PY" -c "$prog" "$@"
}

# hunt_no_escape FILE WHAT: a terminal must never receive a raw ESC (or other
# C0 control but tab/newline/CR) from names or contents in the vault, nor a C1
# control (U+0080-U+009F: CSI is one), nor bytes that are not UTF-8.
hunt_no_escape() {
    if grep -qP '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]' "$1"; then
        grep -nP '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]' "$1" | head -n 5 | cat -v >&2
        e2e_fail_later "$2: raw control bytes (ESC...) in the output: names not escaped"
    fi
    if ! "$HUNT_PY" - "$1" <<'EOF' >&2; then
import re, sys
b = open(sys.argv[1], "rb").read()
try:
    t = b.decode("utf-8")
except UnicodeDecodeError as e:
    print("  not UTF-8 at byte %d: %r" % (e.start, b[max(0, e.start - 60):e.start + 8]))
    sys.exit(1)
m = re.search("[\u0080-\u009f]", t)
if m:
    print("  C1 control U+%04X at %d: %r" % (ord(m.group()), m.start(), t[max(0, m.start() - 60):m.start() + 4]))
    sys.exit(1)
EOF
        e2e_fail_later "$2: output is not plain UTF-8 text (above): names or evidence not escaped"
    fi
}
