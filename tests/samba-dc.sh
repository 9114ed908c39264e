#!/usr/bin/env bash
# A throw-away Samba Active Directory domain controller, for the directory
# probes (dns, kerberos, ldap, smb) and the Active Directory tests: realm
# CLEANROOM.TEST, domain CLEANROOM, internal DNS, provisioned in DIR and run in
# a network namespace of its own, so that its fixed ports (53, 88, 389, 445...)
# never clash with the machine's.
#
#   tests/samba-dc.sh start DIR    provision a domain in DIR (made empty first;
#                                  about 30 s) and start samba; writes DIR/env
#   tests/samba-dc.sh stop DIR     stop samba and the namespace, remove DIR
#   tests/samba-dc.sh halt DIR     stop samba only (the namespace stays: probes
#                                  then meet a DC that is down)
#   tests/samba-dc.sh resume DIR   start samba again on the same data, wait for it
#   tests/samba-dc.sh run DIR CMD...  run CMD inside the DC's network namespace
#   tests/samba-dc.sh env DIR      print DIR/env if the DC answers (exit 1 otherwise)
#
# The namespace has its own loopback with the DC's address 10.99.17.1 on it, and
# samba runs with a /run/samba of its own (a mount namespace); a process holding
# them (`unshare --net --mount sleep`) lives until `stop`. Every client
# (cleanroom probe, kinit, smbclient) reaches the DC with `samba-dc.sh run DIR ...`.
# DIR/env exports SAMBA_DC_DIR, SAMBA_DC_IP, SAMBA_DC_REALM, SAMBA_DC_DOMAIN,
# SAMBA_DC_ADMIN_PASSWORD (the Administrator's, made at random), SAMBA_DC_CONF
# (the DC's smb.conf: `samba-tool ... -s $SAMBA_DC_CONF` administers it).
#
# Needs root (a network namespace, samba's own checks); DIR may be below a 0700
# folder: samba runs as root and reads it as such.
# Exit codes: 0 done, 1 failed (SAMBA_DC_FAIL_EXIT instead, if set: the ctest
# fixture sets 77 so that the tests are skipped, not failed, where samba cannot
# start), 77 cannot run here (not root, packages missing and not installable).
set -euo pipefail

PKGS=(samba samba-dsdb-modules winbind krb5-user smbclient iproute2 util-linux)
REALM=CLEANROOM.TEST
DOMAIN=CLEANROOM
IP=10.99.17.1

usage() {
    echo "usage: $0 start|stop|halt|resume|env DIR | run DIR CMD..." >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
D=$2
shift 2
case "$D" in /*) ;; *) D="$PWD/$D" ;; esac

pid_of() {
    local p
    p=$(cat "$D/run/$1.pid" 2>/dev/null || true)
    case "$p" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$p" 2>/dev/null || return 1
    echo "$p"
}

in_ns() {
    local h
    h=$(pid_of netns) || { echo "samba-dc.sh: the DC's namespace is not there (start it first)" >&2; return 1; }
    nsenter --net="/proc/$h/ns/net" -- "$@"
}

# Stop samba and the RPC server, each a process group of its own (setsid at start).
halt_dc() {
    local p q x
    p=$(pid_of samba) || p=""
    q=$(pid_of dcerpcd) || q=""
    [ -n "$p$q" ] || return 0
    for x in $p $q; do kill -- "-$x" 2>/dev/null || kill "$x" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        { [ -n "$p" ] && kill -0 "$p" 2>/dev/null; } || { [ -n "$q" ] && kill -0 "$q" 2>/dev/null; } || break
        sleep 0.1
    done
    for x in $p $q; do kill -9 -- "-$x" 2>/dev/null || true; done
    rm -f "$D/run/samba.pid" "$D/run/dcerpcd.pid"
}

stop_all() {
    halt_dc
    local h
    if h=$(pid_of netns); then
        kill "$h" 2>/dev/null || true
    fi
    rm -f "$D/run/netns.pid"
}

ensure_packages() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "samba-dc.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }; }; then
        echo "samba-dc.sh: cannot install ${missing[*]}: no Samba DC here" >&2
        exit 77
    fi
}

# Wait until the DC answers LDAP, Kerberos, DNS and SMB on its address (at most 90 s).
wait_up() {
    for _ in $(seq 1 180); do
        if ! pid_of samba >/dev/null; then
            echo "samba-dc.sh: samba exited (see $D/log/samba.log)" >&2
            return 1
        fi
        # The first share listing also starts samba's RPC helpers (on demand, a few
        # seconds): done here, so that the tests' first probe does not pay for it.
        if in_ns bash -c "exec 3<>/dev/tcp/$IP/389 && exec 4<>/dev/tcp/$IP/88 &&
                          exec 5<>/dev/tcp/$IP/445 && exec 6<>/dev/tcp/$IP/53" 2>/dev/null &&
            in_ns timeout 30 smbclient -L "//$IP" -N >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    echo "samba-dc.sh: the DC did not answer within 90 s (see $D/log/samba.log)" >&2
    return 1
}

start_dc() {
    pid_of samba >/dev/null && return 0
    # -i: no daemon, logs on stdout; setsid: its own process group, stopped as one.
    local ns=(nsenter --net="/proc/$(pid_of netns)/ns/net" --mount="/proc/$(pid_of netns)/ns/mnt" --)
    setsid "${ns[@]}" samba -i -M single -s "$D/etc/smb.conf" --debuglevel=1 >>"$D/log/samba.log" 2>&1 &
    echo $! >"$D/run/samba.pid"
    # The RPC server (share listing...) runs for good: started on demand by smbd, it
    # leaves when idle, and the next listing waits seconds for it to come back.
    setsid "${ns[@]}" /usr/libexec/samba/samba-dcerpcd --libexec-rpcds -F --no-process-group \
        -s "$D/etc/smb.conf" --debuglevel=1 >>"$D/log/dcerpcd.log" 2>&1 &
    echo $! >"$D/run/dcerpcd.pid"
    wait_up
}

start() {
    [ "$(id -u)" -eq 0 ] || { echo "samba-dc.sh: needs root (network namespace, samba)" >&2; exit 77; }
    ensure_packages
    local t0 pw
    t0=$(date +%s)
    log() { echo "samba-dc.sh: [$(($(date +%s) - t0)) s] $*" >&2; }
    stop_all
    rm -rf "$D"
    mkdir -p "$D"/{run,log}
    # The namespaces: a loopback of its own carrying the DC's address, and a /run/samba
    # of its own (smbd finds winbindd's socket there whatever smb.conf says, and the
    # machine's own samba, or another test DC, must not answer in its place).
    mkdir -p /run/samba
    setsid unshare --net --mount --propagation private -- sleep infinity </dev/null >/dev/null 2>&1 &
    echo $! >"$D/run/netns.pid"
    sleep 0.2
    nsenter --mount="/proc/$(pid_of netns)/ns/mnt" -- mount -t tmpfs -o mode=0755 tmpfs /run/samba
    in_ns ip link set lo up
    in_ns ip addr add "$IP/32" dev lo
    # A password that satisfies AD's complexity rules.
    pw="Cr-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')-9x"
    # An empty configuration to start from: without it samba-tool would merge the
    # machine's /etc/samba/smb.conf (shares, printers) into the DC's.
    : >"$D/run/empty.conf"
    # Provision in the namespace: it names the DC after the address it finds there.
    in_ns samba-tool domain provision --use-rfc2307 --realm="$REALM" --domain="$DOMAIN" \
        --server-role=dc --dns-backend=SAMBA_INTERNAL --host-name=dc1 --host-ip="$IP" \
        --adminpass="$pw" --option="interfaces = lo" --option="dns forwarder = 127.0.0.1" \
        --option="log file = $D/log/log.%m" --option="ldap server require strong auth = no" \
        --configfile="$D/run/empty.conf" --targetdir="$D" >"$D/log/provision.log" 2>&1 || {
        echo "samba-dc.sh: provisioning failed:" >&2
        tail -20 "$D/log/provision.log" >&2
        return 1
    }
    log "domain $REALM provisioned"
    # Probes may bind with a simple bind over plain LDAP on this isolated loopback
    # (samba-tool does not keep this option in the file it writes).
    # Its run-time folders in DIR too: by default they are the machine's /run/samba,
    # where another samba's RPC helpers would answer in its place.
    # (The sockets under /run/samba are the namespace's own: see start.)
    mkdir -p "$D/pid"
    sed -i "s|^\[global\]\$|[global]\n\tldap server require strong auth = no\n\tpid directory = $D/pid\n\trpc start on demand helpers = no|" \
        "$D/etc/smb.conf"
    cat >"$D/env" <<EOF
export SAMBA_DC_DIR=$D
export SAMBA_DC_IP=$IP
export SAMBA_DC_REALM=$REALM
export SAMBA_DC_DOMAIN=$DOMAIN
export SAMBA_DC_ADMIN_PASSWORD='$pw'
export SAMBA_DC_CONF=$D/etc/smb.conf
EOF
    chmod 600 "$D/env"
    start_dc
    log "DC answering at $IP (namespace of pid $(pid_of netns))"
}

case "$cmd" in
start)
    if ! start; then
        [ -f "$D/log/samba.log" ] && { echo "--- last lines of $D/log/samba.log" >&2; tail -15 "$D/log/samba.log" >&2; }
        stop_all
        echo "samba-dc.sh: the Samba DC did not start in $D" >&2
        exit "${SAMBA_DC_FAIL_EXIT:-1}"
    fi
    ;;
stop)
    stop_all
    rm -rf "$D"
    ;;
halt) halt_dc ;;
resume)
    pid_of netns >/dev/null || { echo "samba-dc.sh: no DC in $D (start it first)" >&2; exit 1; }
    start_dc
    ;;
run)
    [ $# -ge 1 ] || usage
    in_ns "$@"
    ;;
env)
    [ -f "$D/env" ] || exit 1
    pid_of samba >/dev/null || exit 1
    cat "$D/env"
    ;;
*) usage ;;
esac
