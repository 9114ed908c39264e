#!/usr/bin/env bash
# A throw-away single-node Ceph 16.2 cluster with its S3 gateway (RGW), for
# the S3 tests and the demo: one monitor, one OSD (BlueStore on a sparse file
# in DIR), one RGW, no manager (S3 does not need one), no systemd.
#
#   tests/ceph.sh start DIR   start it in DIR (made empty first); about 20 s.
#                             Writes DIR/env (shell exports, see below) and prints it.
#   tests/ceph.sh stop DIR    stop its daemons and remove DIR.
#   tests/ceph.sh env DIR     print DIR/env if the gateway answers (exit 1 otherwise).
#
# DIR/env exports CR_S3_ENDPOINT (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (an S3 user made with radosgw-admin), CEPH_CONF (the
# cluster's config; with it `radosgw-admin -c $CEPH_CONF ...` is the Ceph admin).
# Ports are chosen free at start, so several clusters may run side by side.
# CEPH_RGW_TCP_NODELAY=1 starts the gateway with tcp_nodelay=1 (Ceph's default is
# off, which adds about 40 ms to each small GET: see bench/README.md).
# Missing Debian packages are installed with apt-get (as scripts/install-deps).
# Exit codes: 0 done, 1 failed (CEPH_SH_FAIL_EXIT instead, if set: the ctest
# fixture sets 77 so that the S3 tests are skipped, not failed, on a machine
# where Ceph cannot start), 77 Ceph cannot run here (packages missing and not
# installable).
set -euo pipefail

PKGS=(ceph-mon ceph-osd radosgw ceph-common ceph-base uuid-runtime)

usage() {
    echo "usage: $0 start|stop|env DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
D=$2
case "$D" in /*) ;; *) D="$PWD/$D" ;; esac

stop() {
    local f pid
    for f in "$D"/run/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        kill "$pid" 2>/dev/null || true
    done
    for f in "$D"/run/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
}

ensure_packages() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "ceph.sh: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    if ! { $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { $sudo apt-get update -q >&2 &&
            $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }; }; then
        echo "ceph.sh: cannot install ${missing[*]}: Ceph cannot run here" >&2
        exit 77
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
    ensure_packages
    local t0 C fsid port_v2 port_v1 rgw_port nodelay osd_uuid osd_secret osd_id key secret
    t0=$(date +%s)
    log() { echo "ceph.sh: [$(($(date +%s) - t0)) s] $*" >&2; }
    stop
    rm -rf "$D"
    mkdir -p "$D"/{mon.a,osd.0,rgw.a,run,log}
    fsid=$(uuidgen)
    port_v2=$(free_port)
    port_v1=$(free_port)
    rgw_port=$(free_port)
    # Ceph's default keeps Nagle's algorithm on the gateway's sockets: a small GET
    # then waits for the client's delayed ACK (about 40 ms on Linux).
    nodelay=""
    [ "${CEPH_RGW_TCP_NODELAY:-0}" = 1 ] && nodelay=" tcp_nodelay=1"
    cat >"$D/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port_v2,v1:127.0.0.1:$port_v1
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 2
mon data avail crit = 1
[mon]
mon data = $D/\$name
[osd]
osd data = $D/\$name
keyring = $D/\$name/keyring
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.a]
rgw data = $D/rgw.a
keyring = $D/rgw.a/keyring
rgw frontends = beast endpoint=127.0.0.1:$rgw_port$nodelay
rgw dns name = localhost
EOF
    C=(-c "$D/ceph.conf")
    ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
        --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port_v2,v1:127.0.0.1:$port_v1]" \
        "$D/monmap" >/dev/null
    ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
    ceph-mon "${C[@]}" -i a
    timeout 60 ceph "${C[@]}" -s >/dev/null
    log "monitor up"
    osd_uuid=$(uuidgen)
    osd_secret=$(ceph-authtool --gen-print-key)
    osd_id=$(echo "{\"cephx_secret\": \"$osd_secret\"}" | ceph "${C[@]}" osd new "$osd_uuid" -i -)
    mkdir -p "$D/osd.$osd_id"
    ceph-authtool --create-keyring "$D/osd.$osd_id/keyring" --name "osd.$osd_id" \
        --add-key "$osd_secret" >/dev/null
    ceph-osd "${C[@]}" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" \
        --keyring "$D/osd.$osd_id/keyring" >"$D/log/osd-mkfs.log" 2>&1
    ceph-osd "${C[@]}" -i "$osd_id"
    local up=0
    for _ in $(seq 1 120); do
        if ceph "${C[@]}" osd stat 2>/dev/null | grep -q '1 up'; then up=1; break; fi
        sleep 0.5
    done
    [ $up = 1 ] || { echo "ceph.sh: the OSD did not come up (see $D/log)" >&2; return 1; }
    log "OSD up"
    ceph "${C[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' \
        >"$D/rgw.a/keyring"
    radosgw "${C[@]}" -n client.rgw.a --keyring "$D/rgw.a/keyring"
    up=0
    for _ in $(seq 1 180); do
        if curl -s -o /dev/null "http://127.0.0.1:$rgw_port/"; then up=1; break; fi
        sleep 0.5
    done
    [ $up = 1 ] || { echo "ceph.sh: the S3 gateway did not answer (see $D/log)" >&2; return 1; }
    key=$(head -c 15 /dev/urandom | base32)
    secret=$(head -c 30 /dev/urandom | base64 | tr -d '/+=')
    radosgw-admin "${C[@]}" user create --uid=cleanroom --display-name=cleanroom \
        --access-key="$key" --secret="$secret" >/dev/null
    cat >"$D/env" <<EOF
export CR_S3_ENDPOINT=http://127.0.0.1:$rgw_port
export AWS_ACCESS_KEY_ID=$key
export AWS_SECRET_ACCESS_KEY=$secret
export CEPH_CONF=$D/ceph.conf
EOF
    log "S3 gateway answering at http://127.0.0.1:$rgw_port"
    cat "$D/env"
}

case "$cmd" in
start)
    if ! start; then
        for f in "$D"/log/*.log; do
            [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -5 "$f" >&2; }
        done
        stop
        echo "ceph.sh: Ceph did not start in $D" >&2
        exit "${CEPH_SH_FAIL_EXIT:-1}"
    fi
    ;;
stop)
    stop
    rm -rf "$D"
    ;;
env)
    [ -f "$D/env" ] || exit 1
    # shellcheck disable=SC1091
    . "$D/env"
    curl -s -o /dev/null "$CR_S3_ENDPOINT/" || exit 1
    cat "$D/env"
    ;;
*) usage ;;
esac
