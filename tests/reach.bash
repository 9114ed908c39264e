# shellcheck shell=bash
# Folders that other accounts (postgres, nobody...) can reach, wherever the
# project lives. A clone under a 0700 parent (/root/cleanroom: the usual place
# for root) cannot be entered by any other account, so a server started as
# postgres on a data folder inside it, or the built command run as nobody,
# fails with "Permission denied". The user's own folders are never opened up:
# the other account gets a folder of its own under /var/tmp instead.
#
# Sourced by tests/lib.sh (run_as, shared_dir) and by scripts/demo.sh.
#
#   can_reach USER PATH    true if USER can enter the folder PATH (and every one above it)
#   reachable_dir NAME     make /var/tmp/NAME.XXXXXX with mode 0755 (every account can enter
#                          it) and print its path; the caller removes it

can_reach() {
    runuser -u "$1" -- test -x "$2" 2>/dev/null
}

reachable_dir() {
    local d
    d=$(mktemp -d "/var/tmp/$1.XXXXXX") || return 1
    chmod 755 "$d" || { rmdir "$d"; return 1; }
    printf '%s\n' "$d"
}
