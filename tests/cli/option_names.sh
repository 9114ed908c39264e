# One name for one idea: --target wherever a destination is given (--out kept
# as an alias), --vault wherever --repo is (docs/commands/cleanroom.md).
set -u
. "${CR_TESTLIB:?}"

V=$SCRATCH/v
expect_exit 0 cr --vault "$V" init --kdf interactive
expect_exit 0 cr snapshots --vault "$V"
expect_exit 0 cr --vault "$V" snapshots
expect_exit 0 cr snapshots --repo "$V"
pass "--vault is --repo, before or after the command"

# report: --target and --out are one option (a missing journal is 7, not a usage error)
expect_exit 7 cr report "$SCRATCH/none.journal" --target out
expect_exit 7 cr report "$SCRATCH/none.journal" --out out
pass "report --target"

# vm-export: --target is required, --out is its alias (both reach the snapshot lookup: 7)
expect_exit 2 cr --repo "$V" vm-export latest --hypervisor kvm
assert_grep "--target DIR is required" "$CR_ERR" "vm-export names --target"
expect_exit 7 cr --repo "$V" vm-export latest --hypervisor kvm --target exp
expect_exit 7 cr --repo "$V" vm-export latest --hypervisor kvm --out exp
pass "vm-export --target (--out an alias)"

# every command's --help that takes a destination shows --target
for c in restore vm-export; do
    expect_exit 0 cr "$c" --help
    assert_grep "^  --target DIR" "$CR_OUT" "$c --help shows --target"
done
pass "help"
