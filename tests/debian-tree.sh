# shellcheck shell=bash
# Sourced by tests/e2e/*.sh (and runnable directly): provides cr_debian_tree,
# which prints the path of a cached `debootstrap --variant=minbase bookworm`
# tree, building it once if needed.
#
# Why a cache: debootstrap takes minutes and needs the network; the tree is
# read-only input for the tests, so it is built once per machine under
# ${CLEANROOM_TEST_CACHE:-/var/tmp/cleanroom-test}/debian-minbase. It is
# built into a temporary directory and renamed into place only when
# debootstrap succeeded, so an interrupted build is never reused. A lock
# (flock) keeps two tests started together from building it twice.
#
# Usage:  . tests/debian-tree.sh; tree=$(cr_debian_tree) || skip...
#         bash tests/debian-tree.sh        # just build the cache
# Returns 0 and prints the path, or returns 1 with a message on stderr
# (not root, no debootstrap, no mirror reachable).

cr_debian_mirror() {
    # The mirror from the machine's apt sources (deb822 or one-line format).
    local m=""
    if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
        m=$(awk '
            /^Types:/ { deb = ($0 ~ /(^|[ \t])deb([ \t]|$)/) }
            /^URIs:/ && deb { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null |
            grep -v -- '-security' | head -n1 || true)
        if [ -z "$m" ]; then
            m=$(awk '/^URIs:/ { print $2 }' /etc/apt/sources.list.d/*.sources 2>/dev/null |
                grep -v -- 'security' | grep -i debian | head -n1 || true)
        fi
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $0 !~ /security/ {
                    for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list 2>/dev/null | head -n1 || true)
    fi
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

cr_debian_tree() {
    local cache="${CLEANROOM_TEST_CACHE:-/var/tmp/cleanroom-test}"
    local dest="$cache/debian-minbase"
    if [ -d "$dest" ] && [ -e "$dest/.cleanroom-complete" ]; then
        printf '%s\n' "$dest"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "debian-tree: need root to run debootstrap" >&2
        return 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "debian-tree: debootstrap is not installed" >&2
        return 1
    fi
    mkdir -p "$cache" || return 1
    (
        # Serialize builders; the second one finds the finished tree.
        flock 9
        if [ -d "$dest" ] && [ -e "$dest/.cleanroom-complete" ]; then
            exit 0
        fi
        # A leftover without the marker is an interrupted rename or an old
        # layout: throw it away.
        rm -rf "$dest"
        # Temporary trees of builds that were interrupted (we hold the lock,
        # so no other build is running).
        rm -rf "$cache"/debian-minbase.tmp.*
        local tmp
        tmp=$(mktemp -d "$cache/debian-minbase.tmp.XXXXXX") || exit 1
        local mirror
        mirror=$(cr_debian_mirror)
        echo "debian-tree: building debootstrap minbase bookworm from $mirror into $tmp" >&2
        if ! debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1; then
            echo "debian-tree: debootstrap failed, log tail:" >&2
            tail -n 20 "$tmp.log" >&2
            rm -rf "$tmp"
            exit 1
        fi
        # Drop the package cache: it is big and not interesting for backups.
        rm -rf "$tmp/var/cache/apt/archives/"*.deb
        # mktemp -d made it 0700; a real root directory is 0755.
        chmod 0755 "$tmp"
        touch "$tmp/.cleanroom-complete"
        mv -T "$tmp" "$dest" && rm -f "$tmp.log"
    ) 9>"$cache/.debian-minbase.lock" || return 1
    [ -e "$dest/.cleanroom-complete" ] || return 1
    printf '%s\n' "$dest"
}

# Run directly: build (or show) the cache.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    cr_debian_tree
fi
