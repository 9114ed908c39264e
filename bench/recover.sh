#!/usr/bin/env bash
# cleanroom recovery benchmark: a drill of the example small-hospital plan on
# generated data of a stated size, the measured RTO per tier, and the RTO a
# 2 TB hospital would have at the measured throughput.
#
#   bench/recover.sh          (also run at the end of bench/bench.sh; BENCH_RECOVER=0 skips it)
#
# What it does:
#   1. reads examples/small-hospital.yaml (services, tiers, dependencies,
#      sources, counts, RTOs) and gives each source generated files: the data
#      size (BENCH_RECOVER_SIZE, default 2G) is split by a weight per service
#      (PACS and the file server hold most of it, as in a real hospital);
#      half of each file is random (images, compressed documents), half text;
#   2. backs every source up into a new vault and hunts it (the clean points
#      the plan asks for; neither is timed here: bench.sh and hunt.sh measure them);
#   3. writes the plan again with every target a folder under the work folder,
#      no start commands and, as the example's hosts do not exist here, one
#      TCP probe per service against a port this script listens on;
#   4. runs `cleanroom drill` on it (restores for real into a scratch folder,
#      probes, removes the scratch folder), then `cleanroom report` on its journal;
#   5. prints, per tier, the bytes restored, the measured time at which the
#      last service of the tier was back, its RTO target, and the projection
#      for a hospital of BENCH_RECOVER_PROJECT (default 2T) bytes: each tier's
#      time scaled by PROJECT / bytes restored (restores are I/O and CPU bound,
#      so linear scaling is the honest first guess; probes and start commands
#      of a real site add their own time).
#
# Environment:
#   CLEANROOM               the command (default: build/cleanroom of this tree)
#   CLEANROOM_BENCH_CACHE   work folder and results (default /var/tmp/cleanroom-bench)
#   BENCH_RECOVER_SIZE      generated data (default 2G; BENCH_QUICK=1: 256M)
#   BENCH_RECOVER_PROJECT   the size projected to (default 2T)
#   BENCH_RECOVER_PARALLEL  services restored at once (default 2, as recover)
#
# A benchmark is not a test: it prints numbers, it fails only when a step
# could not run at all.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CLEANROOM_BENCH_CACHE:-/var/tmp/cleanroom-bench}
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
if [ "${BENCH_QUICK:-0}" = 1 ]; then SIZE=${BENCH_RECOVER_SIZE:-256M}; else SIZE=${BENCH_RECOVER_SIZE:-2G}; fi
PROJECT=${BENCH_RECOVER_PROJECT:-2T}
PARALLEL=${BENCH_RECOVER_PARALLEL:-2}
WORK="$CACHE/work-recover"
RESULTS="$CACHE/results"
PLAN_IN="$ROOT/examples/small-hospital.yaml"

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-recover: $*"; exit 1; }

[ -x "$CLEANROOM" ] || die "no cleanroom command at $CLEANROOM (build it first)"
python3 -c 'import yaml' 2>/dev/null || die "python3-yaml is needed (scripts/install-deps)"
bytes_of() { numfmt --from=iec "${1%B}"; }
SIZE_B=$(bytes_of "$SIZE") || die "bad BENCH_RECOVER_SIZE '$SIZE'"
PROJECT_B=$(bytes_of "$PROJECT") || die "bad BENCH_RECOVER_PROJECT '$PROJECT'"

rm -rf "$WORK"
mkdir -p "$WORK/data" "$RESULTS"
export CLEANROOM_REPO="$WORK/vault"
export CLEANROOM_PASSWORD="cleanroom-bench-passphrase"
unset CLEANROOM_PASSWORD_FILE

# A port every probe connects to (the example's hosts do not exist here).
PORT_FILE="$WORK/port"
python3 - "$PORT_FILE" <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.close()
EOF
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; rm -rf "$WORK/data" "$WORK/drill"' EXIT
for _ in $(seq 50); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
[ -s "$PORT_FILE" ] || die "could not open a local port for the probes"
PORT=$(cat "$PORT_FILE")

say "bench-recover: generating $SIZE for the services of $(basename "$PLAN_IN")"
# The adapted plan and the data, from the example plan.
python3 - "$PLAN_IN" "$WORK" "$SIZE_B" "$PORT" <<'EOF' || die "could not generate the data"
import os, random, sys, yaml
plan_in, work, size, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan = yaml.safe_load(open(plan_in))
# Share of the data per service (unknown services: 1).
weight = {"pacs": 40, "file-server": 25, "postgres": 12, "dpi": 6, "mail": 8, "lab": 3,
          "ad": 1, "dns": 0.2, "dhcp": 0.2, "print": 0.5, "workstations": 0.05}
svcs = plan["services"]
total_w = sum(weight.get(s["name"], 1) * s.get("count", 1) for s in svcs)
rnd = random.Random(42)
text = ("Patient record; observation stable; lab result within range; " * 40).encode()
sources = {}
for s in svcs:
    src = s.get("source", s["name"])
    sources[src] = int(size * weight.get(s["name"], 1) / total_w)
for src, want in sources.items():
    d = os.path.join(work, "data", src)
    os.makedirs(d, exist_ok=True)
    done, i = 0, 0
    while done < max(want, 4096):
        n = min(rnd.choice([64 << 10, 1 << 20, 4 << 20, 8 << 20]), max(want - done, 4096))
        with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
            half = n // 2
            f.write(rnd.randbytes(half))
            f.write((text * (n // len(text) + 1))[: n - half])
        done += n
        i += 1
out = {"site": plan.get("site", "bench"), "vault": os.path.join(work, "vault"),
       "defaults": {"probe_timeout": "2s", "probe_retries": 1, "probe_interval": "1s"},
       "services": []}
for s in svcs:
    o = {k: s[k] for k in ("name", "tier", "depends_on", "source", "rto", "count") if k in s}
    name = s["name"]
    path = os.path.join(work, "restored", name + ("-%n" if s.get("count", 1) > 1 else ""))
    o["target"] = {"folder": path}
    o["probes"] = [{"kind": "tcp", "host": "127.0.0.1", "port": port}]
    out["services"].append(o)
yaml.safe_dump(out, open(os.path.join(work, "plan.yaml"), "w"), sort_keys=False)
with open(os.path.join(work, "sources"), "w") as f:
    for src, want in sources.items():
        f.write("%s %d\n" % (src, want))
EOF

"$CLEANROOM" init --kdf interactive >/dev/null 2>"$WORK/init.err" || { cat "$WORK/init.err" >&2; die "init failed"; }
say "bench-recover: backing up and hunting $(wc -l <"$WORK/sources") sources"
t0=$(date +%s.%N)
while read -r src _; do
    "$CLEANROOM" --quiet backup --source "$src" "$WORK/data/$src" >"$WORK/backup-$src.log" 2>&1 ||
        { cat "$WORK/backup-$src.log" >&2; die "backup of $src failed"; }
done <"$WORK/sources"
"$CLEANROOM" --quiet hunt >"$WORK/hunt.log" 2>&1 || { cat "$WORK/hunt.log" >&2; die "hunt failed"; }
BACKUP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
rm -rf "$WORK/data"

say "bench-recover: drill of the plan ($PARALLEL services at once)"
"$CLEANROOM" plan check "$WORK/plan.yaml" >"$WORK/plan-check.log" 2>&1 ||
    { cat "$WORK/plan-check.log" >&2; die "plan check failed"; }
t0=$(date +%s.%N)
"$CLEANROOM" --quiet drill "$WORK/plan.yaml" --journal "$WORK/drill.journal" \
    --parallel "$PARALLEL" >"$WORK/drill.log" 2>&1
rc=$?
DRILL_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ $rc -eq 0 ] || { tail -n 20 "$WORK/drill.log" >&2; die "the drill did not bring every service back (exit $rc)"; }
"$CLEANROOM" report "$WORK/drill.journal" --out "$WORK" >/dev/null 2>"$WORK/report.err" ||
    { cat "$WORK/report.err" >&2; die "report failed"; }
"$CLEANROOM" --json journal show "$WORK/drill.journal" >"$WORK/journal.json" || die "journal show failed"

OUT="$RESULTS/recover-latest.md"
python3 - "$WORK/journal.json" "$SIZE" "$PROJECT_B" "$PROJECT" "$DRILL_S" "$BACKUP_S" "$PARALLEL" <<'EOF' >"$OUT" || die "could not read the journal"
import json, sys
entries = json.load(open(sys.argv[1]))
size, project, project_h, drill_s, backup_s, par = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6], sys.argv[7]
tiers = {}
restore_s = 0.0
total = 0
for e in entries:
    d = e["data"]
    if e["type"] == "restore-done":
        total += int(d["bytes"])
        restore_s += float(d["seconds"])
        svc = e["service"]
        tiers.setdefault(svc, {})["bytes"] = tiers.get(svc, {}).get("bytes", 0) + int(d["bytes"])
    if e["type"] == "service-done":
        tiers.setdefault(e["service"], {}).update(tier=int(d["tier"]), back=float(d["seconds"]),
                                                  rto=float(d["rto"]), status=d["status"])
by_tier = {}
for svc, v in tiers.items():
    t = by_tier.setdefault(v.get("tier", -1), {"bytes": 0, "back": 0.0, "rto": 0.0, "n": 0, "ok": 0})
    t["bytes"] += v.get("bytes", 0)
    t["back"] = max(t["back"], v.get("back", 0.0))
    t["rto"] = max(t["rto"], v.get("rto", 0.0))
    t["n"] += 1
    t["ok"] += v.get("status") == "ok"
def dur(s):
    if s < 60: return "%.1f s" % s
    if s < 3600: return "%d min %02d s" % (s // 60, s % 60)
    return "%d h %02d min" % (s // 3600, (s % 3600) // 60)
scale = project / total if total else 0
end = max((t["back"] for t in by_tier.values()), default=0)
print("### Recovery drill: examples/small-hospital.yaml on %s of generated data" % size)
print()
print("Restored %.2f GiB in %s (drill wall time %s, %s services at once): %.0f MiB/s overall."
      % (total / 2**30, dur(end), dur(drill_s), par, total / 2**20 / end if end else 0))
print("Backup and hunt beforehand (not part of the RTO): %s s." % backup_s)
print()
thr = total / end if end else 0
print("| tier | units ok | bytes | measured: last back | RTO target | projected for %s: last back |" % project_h)
print("|---|---|---|---|---|---|")
prev_back = proj = 0.0
for t in sorted(by_tier):
    v = by_tier[t]
    took = max(v["back"] - prev_back, 0.0)
    data_s = v["bytes"] / thr if thr else 0
    # The part of the tier's time its bytes explain scales with the data; the rest does not.
    proj += v["bytes"] * scale / thr + max(took - data_s, 0.0) if thr else 0
    prev_back = v["back"]
    print("| %d | %d/%d | %.2f GiB | %s | %s | %s |" % (t, v["ok"], v["n"], v["bytes"] / 2**30,
          dur(v["back"]), dur(v["rto"]) if v["rto"] else "-", dur(proj)))
print()
print("Projection: the recovery's measured throughput (%.0f MiB/s, %s services at once) applied"
      " to each tier's share of %s (x%.0f the bytes restored here); the time a tier took beyond"
      " its bytes (probes, scheduling) is kept as measured. The probes and start commands of a"
      " real site add their own time." % (thr / 2**20, par, project_h, scale))
EOF
echo
cat "$OUT"
echo
echo "results written to $OUT (journal and report in $WORK)"
