#!/usr/bin/env python3
"""Write a stand-in for a BITS queue file, for the tests.

    mkbits.py -o OUT SPEC.json

Not a queue BITS could load: filler (an ESE database's magic at offset 4 for
"db", the qmgr file header GUID at 0x10 for "dat"), then each job as its
record starts: the version's 16-byte delimiter (as ANSSI's bits_parser and
FireEye's BitsParser know them) and the control block, u32 type, priority,
state, unknown, the job id, then name, description, command, arguments and
owner SID as u32-counted UTF-16LE strings with their NUL, then filler.

SPEC: {"format": "db" | "dat", "jobs": [{"id": "00112233-...", "name": "...",
        "desc": "", "cmd": "", "args": "", "sid": "S-1-5-18", "state": 2}]}
"""
import argparse
import json
import random
import struct
import uuid

DELIM = {
    "dat": bytes.fromhex("B346ED3D3B10F944BC2FE8378BD31986"),
    "db": bytes.fromhex("C133BCDDFB5AAF4DB8A12268B39D01AD"),
}


def pascal(s):
    u = (s + "\0").encode("utf-16-le") if s else b""
    return struct.pack("<I", len(u) // 2) + u


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("spec")
    a = ap.parse_args()
    spec = json.load(open(a.spec))
    fmt = spec.get("format", "db")
    rnd = random.Random(11)
    out = bytearray(bytes(rnd.randrange(256) for _ in range(4096)))
    if fmt == "db":
        out[4:8] = b"\xef\xcd\xab\x89"
    else:
        out[0x10:0x20] = bytes.fromhex("13F72BC84099124A9F1A3AAEBD894EEA")
    for j in spec.get("jobs", []):
        rec = DELIM[fmt]
        rec += struct.pack("<IIII", j.get("type", 0), j.get("priority", 2), j.get("state", 2), 0)
        rec += uuid.UUID(j["id"]).bytes_le
        for f in ("name", "desc", "cmd", "args", "sid"):
            rec += pascal(j.get(f, ""))
        rec += struct.pack("<I", j.get("flags", 3))
        rec += bytes.fromhex("36DA56776F515A43ACAC44A248FFF34D")
        out += bytes(rnd.randrange(256) for _ in range(64)) + rec
    out += bytes(rnd.randrange(256) for _ in range(4096 - len(out) % 4096))
    open(a.o, "wb").write(out)


if __name__ == "__main__":
    main()
