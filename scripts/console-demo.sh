#!/usr/bin/env bash
# The web console on the demo hospital's vault (made by `make demo`): an admin
# account 'admin' with a password made once (demo/console/admin.password), then
#   scripts/console-demo.sh          serve until Ctrl-C (`make console`)
#   scripts/console-demo.sh --check  start, check that the dashboard lists the demo's
#                                    sources, print the URL and the login, stop (`make demo`)
# CLEANROOM: the command (default build/cleanroom); DEMO: the demo folder (default demo/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
DEMO=${DEMO:-$ROOT/demo}
CON=$DEMO/console
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

[ -f "$DEMO/vault/config" ] || { echo "no demo vault in $DEMO/vault: run 'make demo' first" >&2; exit 1; }
export CLEANROOM_REPO="$DEMO/vault" CLEANROOM_PASSWORD_FILE="$DEMO/passphrase"
mkdir -p "$CON"
chmod 700 "$CON"
if [ ! -f "$CON/admin.password" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$CON/admin.password")
    "$CLEANROOM" console user add admin --role admin --config "$CON/console.json" \
        --password-file "$CON/admin.password" >/dev/null
fi
LOGIN="login: admin / $(cat "$CON/admin.password")  (demo/console/admin.password)"

if [ $CHECK -eq 0 ]; then
    echo "cleanroom console on the demo vault; $LOGIN"
    exec "$CLEANROOM" console --config "$CON/console.json" --listen "${LISTEN:-127.0.0.1:8444}"
fi

"$CLEANROOM" console --config "$CON/console.json" --listen 127.0.0.1:0 > "$CON/console.out" 2> "$CON/console.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
port=""
for _ in $(seq 1 150); do
    port=$(sed -n 's/^listening on port //p' "$CON/console.out" 2>/dev/null)
    [ -n "$port" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || { echo "the console did not start: $(cat "$CON/console.log")" >&2; exit 1; }
url=https://127.0.0.1:$port
jar=$(mktemp)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$jar"' EXIT
python3 -c 'import json,sys; print(json.dumps({"user": "admin", "password": open(sys.argv[1]).read().strip()}))' \
    "$CON/admin.password" | curl -sk -c "$jar" -o /dev/null -H 'Content-Type: application/json' --data-binary @- "$url/api/login"
n=$(curl -sk -b "$jar" "$url/api/sources" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sources"]))')
[ "$n" -gt 0 ] || { echo "the console's dashboard lists no source" >&2; exit 1; }
echo "   the console answers at $url/ ($n sources on its dashboard)"
echo "   $LOGIN"
echo "   fingerprint: $(sed -n 's/^fingerprint: \([^ ]*\).*/\1/p' "$CON/console.out")"
echo "   stopped now; 'make console' keeps it running on https://127.0.0.1:8444/"
