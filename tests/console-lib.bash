# The web console for the tests (tests/cli/console.sh, tests/browser/console.sh):
# a small vault with a source on time (dpi), a late one (pacs: 3 days old, RPO
# 26 h), a compromised one with a clean point (web), a job never run (lab), three
# accounts, and the console started on a free port.
#   console_vault            make $SCRATCH/vault, jobs.yaml (sources as above)
#   console_accounts         admin 'alice', opérateur 'oscar', lecteur 'victor',
#                            lecteur 'mallory' (password of each: $PW_<name>)
#   console_plans            the console's config (hostnames, drills in $SCRATCH/drills,
#                            guided restores into $SCRATCH/restores) and
#                            its plans folder: hopital.yaml (dpi tier 0, pacs tier 1 after
#                            dpi, web tier 2 from its clean point), broken.yaml (an error)
#   console_start [ARGS]     start it (TLS, config $SCRATCH/console/console.json),
#                            set CON_PID, CON_URL, CON_FP; logs in console.log
# Source tests/lib.sh first.

console_vault() {
    mkdir -p data/dpi data/pacs data/web/www data/lab
    echo "patient record" > data/dpi/record.txt
    echo "image" > data/pacs/image.dcm
    echo "<html>intranet</html>" > data/web/www/index.html
    cr init --repo "$SCRATCH/vault" --kdf interactive >/dev/null || fail "init"
    cat > jobs.yaml <<JOBS
vault: $SCRATCH/vault
jobs:
  - {name: dpi, source: dpi, paths: [$SCRATCH/data/dpi], schedule: daily 02:00, rpo: 26h}
  - {name: pacs, source: pacs, paths: [$SCRATCH/data/pacs], schedule: daily 02:00, rpo: 26h}
  - {name: web, source: web, paths: [$SCRATCH/data/web], schedule: daily 02:00, rpo: 26h}
  - {name: lab, source: lab, paths: [$SCRATCH/data/lab], schedule: daily 02:00, rpo: 26h}
JOBS
    local now3d now2h now1h
    now3d=$(date -u -d '-3 days' +%FT%TZ)
    now2h=$(date -u -d '-2 hours' +%FT%TZ)
    now1h=$(date -u -d '-1 hour' +%FT%TZ)
    export CLEANROOM_REPO=$SCRATCH/vault
    test_rules "$SCRATCH/rules"
    cr backup --source dpi data/dpi >/dev/null || fail "backup dpi"
    cr backup --source pacs --time "$now3d" data/pacs >/dev/null || fail "backup pacs"
    cr backup --source web --time "$now2h" data/web >/dev/null || fail "backup web 1"
    printf "<?php eval(\$_POST['x']); ?>\n" > data/web/www/up.php
    cr backup --source web --time "$now1h" data/web >/dev/null || fail "backup web 2"
    cr hunt >/dev/null 2>&1
    [ $? -le 9 ] || fail "hunt"
}

PW_alice="correct horse battery staple"
PW_oscar="operator of the night shift"
PW_victor="viewer of the crisis cell"
PW_mallory="mallory forgets her password"

console_accounts() {
    local u role
    for u in alice:admin oscar:opérateur victor:lecteur mallory:lecteur; do
        role=${u#*:}
        u=${u%%:*}
        local pw="PW_$u"
        printf '%s\n' "${!pw}" | cr console user add "$u" --role "$role" \
            --config "$SCRATCH/console/console.json" >/dev/null || fail "user add $u"
    done
}

console_plans() {
    mkdir -p "$SCRATCH/console/plans" "$SCRATCH/drills"
    chmod 700 "$SCRATCH/console"
    cat > "$SCRATCH/console/console.json" <<CONF
{"format": "cleanroom-console", "hostnames": ["cleanroom.test"],
 "drill_scratch": "$SCRATCH/drills", "restore_root": "$SCRATCH/restores"}
CONF
    cat > "$SCRATCH/console/plans/hopital.yaml" <<PLAN
site: CH-Test
services:
  - name: dpi
    tier: 0
    target: {folder: $SCRATCH/prod/dpi}
    rto: 1h
  - name: pacs
    tier: 1
    depends_on: [dpi]
    target: {folder: $SCRATCH/prod/pacs}
    start: sleep 8
    stop: "true"
    rto: 4h
  - name: web
    tier: 2
    restore_point: clean
    target: {folder: $SCRATCH/prod/web}
    rto: 8h
PLAN
    cat > "$SCRATCH/console/plans/broken.yaml" <<PLAN
site: CH-Test
services:
  - name: dpi
    tier: 0
    target: {folder: $SCRATCH/prod/dpi2}
    depends_on: [nowhere]
PLAN
}

console_start() {
    "$CLEANROOM" console --config "$SCRATCH/console/console.json" --jobs "$SCRATCH/jobs.yaml" \
        --listen 127.0.0.1:0 "$@" > console.out 2> console.log &
    CON_PID=$!
    on_exit '[ -n "${CON_PID:-}" ] && kill "$CON_PID" 2>/dev/null; wait 2>/dev/null'
    local port=""
    for _ in $(seq 1 150); do
        port=$(sed -n 's/^listening on port //p' console.out 2>/dev/null)
        [ -n "$port" ] && break
        kill -0 "$CON_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || fail "the console did not start: $(cat console.log)"
    CON_URL=https://127.0.0.1:$port
    CON_FP=$(sed -n 's/^fingerprint: \([^ ]*\).*/\1/p' console.out)
}
