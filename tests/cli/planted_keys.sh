# Key files planted by an attacker who can write keys/ (each asking for the
# costliest Argon2id a reader accepts: minutes of work) must not stall opening
# the vault: they are read, not tried. Cheap planted ones are tried first and
# cannot crowd out the real key, and a wrong passphrase says what was not tried.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p src && printf 'x\n' > src/a
expect_exit 0 cr backup --source s src

plant() { # plant N OPS MEM
    python3 - "$CLEANROOM_REPO/keys" "$1" "$2" "$3" <<'EOF'
import base64, hashlib, json, os, sys
d, n, ops, mem = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    kf = {"version": 1, "kdf": "argon2id13", "opslimit": ops, "memlimit": mem,
          "salt": base64.b64encode(os.urandom(16)).decode(),
          "sealed_master": base64.b64encode(os.urandom(72)).decode(),
          "created": "1970-01-01T00:00:00Z", "hostname": "x", "username": "x"}
    b = json.dumps(kf).encode()
    with open(os.path.join(d, hashlib.sha256(b).hexdigest()), "wb") as f:
        f.write(b)
EOF
}

# 100 key files of the highest cost (64 passes over 4 GiB each): trying one
# would take minutes; the guard below only keeps a regression from hanging CI.
plant 100 64 4294967296
expect_exit 0 timeout 300 "$CLEANROOM" snapshots
pass "100 planted key files of the highest cost are not tried"

# Cheap planted keys are tried first (cheapest first) and cost little: many of
# them cannot crowd out the real key. One pass over 4 GiB is refused too (the
# memory of the restore host), whatever its number of passes.
plant 200 1 8192
plant 5 1 4294967296
expect_exit 0 timeout 300 "$CLEANROOM" snapshots
pass "200 cheap planted key files do not keep the vault from opening"

CLEANROOM_PASSWORD=wrong expect_exit 3 timeout 300 "$CLEANROOM" snapshots
assert_grep "none of the 201 keys .* that were tried opens with it; 105 key file\(s\) were not tried \(105 ask for a key derivation costlier than any cleanroom writes" \
    "$CR_ERR" "wrong passphrase names the keys not tried"
assert_grep "sign of tampering" "$CR_ERR" "tampering named"
pass "a wrong passphrase says which key files were not tried"
