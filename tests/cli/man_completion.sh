# Man pages (from docs/commands/) and the bash completion (from the command's
# own option tables) are built, render, complete, and are installed by
# cmake --install.
set -u
. "${CR_TESTLIB:?}"

BUILD=$(dirname "$CLEANROOM")
MAN=$BUILD/man
COMP=$BUILD/completion/cleanroom
[ -s "$MAN/cleanroom-backup.1" ] || fail "no man page $MAN/cleanroom-backup.1 after the build"
[ -s "$MAN/cleanroom.1" ] || fail "no man page cleanroom.1"
[ -s "$COMP" ] || fail "no bash completion $COMP after the build"

command -v groff >/dev/null || { echo "groff missing: skipped"; exit 77; }
render() { groff -man -Tutf8 -ww "$1" 2>"$SCRATCH/groff.err" | sed 's/.\x08//g'; }
render "$MAN/cleanroom-backup.1" > backup.txt
[ -s "$SCRATCH/groff.err" ] && { cat "$SCRATCH/groff.err" >&2; fail "groff warns about cleanroom-backup.1"; }
assert_grep "^NAME$" backup.txt "NAME section"
assert_grep "cleanroom-backup - save folders as a snapshot" backup.txt "NAME line from the command table"
assert_grep "^OPTIONS$" backup.txt "OPTIONS section"
assert_grep "^ +--exclude PATTERN$" backup.txt "an option as a tagged paragraph"
if command -v man >/dev/null; then
    MANPAGER=cat man -l "$MAN/cleanroom-backup.1" 2>/dev/null | sed 's/.\x08//g' > man.txt
    assert_grep "^ +--exclude PATTERN$" man.txt "man -l renders it"
fi
pass "man pages render"

# Completion: commands, options, actions, values after --repo
complete_words() { # WORD... (the last one is being completed)
    bash -c 'source "$1"; shift; COMP_WORDS=(cleanroom "$@"); COMP_CWORD=$#; _cleanroom
             printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$@"
}
assert_eq "$(complete_words sna)" "snapshots" "cleanroom sna<TAB>"
assert_eq "$(complete_words --repo /tmp sna)" "snapshots" "cleanroom --repo DIR sna<TAB>"
assert_eq "$(complete_words backup --exc)" "--exclude" "cleanroom backup --exc<TAB>"
assert_eq "$(complete_words vm-export latest --tar)" "--target" "vm-export --tar<TAB>"
assert_eq "$(complete_words key a)" "add" "key a<TAB>"
assert_eq "$(complete_words help clean)" "clean-point" "help clean<TAB>"
assert_eq "$(complete_words findings --a)" "--all" "findings --a<TAB>"
bash -c 'source "$1"; complete -p cleanroom' _ "$COMP" | grep -q -- "-F _cleanroom cleanroom" ||
    fail "complete -p cleanroom"
pass "bash completion"

# No drift: every option a command parses is in its man page.
source "$COMP"
for c in $_cleanroom_commands; do
    [ "$c" = help ] && continue
    render "$MAN/cleanroom-$c.1" > page.txt
    eval "opts=\$_cleanroom_opts_${c//-/_}"
    for o in $opts; do
        case $o in --repo|--vault|--json|--quiet|--help|-h|-q) continue ;; esac
        grep -q -- "$o\\b" page.txt || fail "option $o of '$c' is not in man page cleanroom-$c.1"
    done
done
pass "every option is documented in its man page"

# cmake --install puts them where man and bash-completion look.
command -v cmake >/dev/null || { echo "cmake missing: install not checked"; exit 0; }
cmake --install "$BUILD" --prefix "$SCRATCH/inst" >/dev/null || fail "cmake --install"
[ -s "$SCRATCH/inst/share/man/man1/cleanroom-backup.1" ] || fail "man page not installed"
[ -s "$SCRATCH/inst/share/man/man1/cleanroom.1" ] || fail "cleanroom.1 not installed"
[ -s "$SCRATCH/inst/share/bash-completion/completions/cleanroom" ] || fail "completion not installed"
MANPATH=$SCRATCH/inst/share/man MANPAGER=cat man cleanroom-backup 2>/dev/null | sed 's/.\x08//g' |
    grep -q -- "--exclude" || fail "man cleanroom-backup after install"
pass "installed"
