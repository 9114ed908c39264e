#!/usr/bin/env python3
"""Write a small, valid Windows registry hive (regf) from a JSON description.

The tests of the hive reader need SOFTWARE, SYSTEM and NTUSER.DAT-like hives,
and Debian ships no hive to start from, so this builds one from scratch,
following the public description of the regf format:

  base block (4 KiB)  "regf", sequence numbers, timestamp, version 1.5,
                      root cell offset, size of the hive bins, XOR checksum
                      of the first 508 bytes at 0x1FC
  hive bins           "hbin" blocks of 4 KiB (a larger one for a big cell),
                      filled with cells: a signed 32-bit size (negative when
                      in use, 8-byte aligned) then the record. Unused room at
                      the end of a bin is one free cell.
  records             nk (key), sk (one shared security record), lh/lf/li
                      (subkey lists, sorted by upper-case name) or ri (list
                      of lists), value lists, vk (value), data cells, db
                      (big data in segments of at most 16344 bytes)

Usage:
  mkhive.py -o OUT [SPEC.json | -]        (SPEC from a file or stdin)
  mkhive.py -o OUT --json '{"keys": ...}'

Spec (JSON object):
  "name":  file name stored in the base block (optional)
  "lists": "lh" (default), "lf", "li" or "ri" (ri: lists of lh, at most
           "ri_chunk" entries each, default 2)
  "keys":  { "Key/Path/Separated/By/Slashes": { "ValueName": VALUE, ... }, ... }
           intermediate keys are created; {} makes an empty key.
  VALUE:   "text"                      REG_SZ
           123                         REG_DWORD
           {"sz": "text"}              REG_SZ
           {"expand": "text"}          REG_EXPAND_SZ
           {"multi": ["a", "b"]}       REG_MULTI_SZ
           {"dword": 5}  {"qword": 5}  REG_DWORD, REG_QWORD
           {"binary": "00ff"}          REG_BINARY from hex
           {"type": N, "hex": "..."}   any type, raw data from hex
           {"same_as": "OtherName"}    same type and data cell as an earlier
                                       value of the same key (shared cell)
"""

import argparse
import json
import struct
import sys

HBIN = 4096
MAX_SEGMENT = 16344  # bytes of data per big-data segment
FILETIME = 133485408000000000  # 2024-01-01T00:00:00Z, fixed: output is reproducible

REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD = 1, 2, 3, 4, 7, 11


def align8(n):
    return (n + 7) & ~7


def encode_name(name):
    """(bytes, compressed): Latin-1 when possible (flag set), else UTF-16LE."""
    try:
        return name.encode("latin-1"), True
    except UnicodeEncodeError:
        return name.encode("utf-16-le"), False


def utf16z(text):
    return text.encode("utf-16-le", "surrogatepass") + b"\0\0"


class Cell:
    """A record in a cell. body() may read other cells' offsets once laid out."""

    def __init__(self):
        self.off = None  # offset relative to the first hive bin

    def body(self):
        raise NotImplementedError


class Raw(Cell):
    def __init__(self, data):
        super().__init__()
        self.data = data

    def body(self):
        return self.data


class Security(Cell):
    # Self-relative security descriptor: revision 1, control SE_SELF_RELATIVE |
    # SE_DACL_PRESENT, no owner, group, SACL or DACL (a NULL DACL).
    DESCRIPTOR = struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 0)

    def __init__(self):
        super().__init__()
        self.refs = 0

    def body(self):
        me = self.off if self.off is not None else 0
        return (b"sk" + b"\0\0" + struct.pack("<IIII", me, me, self.refs, len(self.DESCRIPTOR)) +
                self.DESCRIPTOR)


class Value(Cell):
    def __init__(self, name, vtype, data):
        super().__init__()
        self.name = name
        self.vtype = vtype
        self.data = data
        self.data_cell = None  # Raw or BigData, None when inline

    def body(self):
        name, compressed = encode_name(self.name)
        if self.data_cell is None:
            size = len(self.data) | 0x80000000
            inline = self.data.ljust(4, b"\0")
            where = struct.unpack("<I", inline)[0]
        else:
            size = len(self.data)
            where = self.data_cell.off if self.data_cell.off is not None else 0
        return (b"vk" + struct.pack("<HIIIHH", len(name), size, where, self.vtype,
                                    1 if compressed else 0, 0) + name)


class ValueList(Cell):
    def __init__(self, values):
        super().__init__()
        self.values = values

    def body(self):
        return b"".join(struct.pack("<I", v.off or 0) for v in self.values)


class BigData(Cell):
    def __init__(self, segments_list, count):
        super().__init__()
        self.segments_list = segments_list
        self.count = count

    def body(self):
        return b"db" + struct.pack("<HI", self.count, self.segments_list.off or 0)


class OffsetList(Cell):
    def __init__(self, cells):
        super().__init__()
        self.cells = cells

    def body(self):
        return b"".join(struct.pack("<I", c.off or 0) for c in self.cells)


def lh_hash(name):
    h = 0
    for ch in name.upper():
        h = (h * 37 + ord(ch)) & 0xFFFFFFFF
    return h


class SubkeyList(Cell):
    def __init__(self, kind, keys):
        super().__init__()
        self.kind = kind
        self.keys = keys

    def body(self):
        out = self.kind.encode() + struct.pack("<H", len(self.keys))
        for k in self.keys:
            off = k.off or 0
            if self.kind == "li":
                out += struct.pack("<I", off)
            elif self.kind == "lf":
                hint = k.name.encode("latin-1", "replace")[:4].ljust(4, b"\0")
                out += struct.pack("<I", off) + hint
            else:
                out += struct.pack("<II", off, lh_hash(k.name))
        return out


class RiList(Cell):
    def __init__(self, lists):
        super().__init__()
        self.lists = lists

    def body(self):
        return b"ri" + struct.pack("<H", len(self.lists)) + b"".join(
            struct.pack("<I", l.off or 0) for l in self.lists)


class Key(Cell):
    def __init__(self, name, parent, security):
        super().__init__()
        self.name = name
        self.parent = parent
        self.security = security
        self.children = {}  # upper-case name -> Key
        self.values = []
        self.subkey_list = None
        self.value_list = None

    def child(self, name):
        k = self.children.get(name.upper())
        if k is None:
            k = Key(name, self, self.security)
            self.children[name.upper()] = k
        return k

    def sorted_children(self):
        return [self.children[n] for n in sorted(self.children)]

    def body(self):
        name, compressed = encode_name(self.name)
        flags = 0x20 if compressed else 0
        if self.parent is None:
            flags |= 0x04 | 0x08  # hive entry (root), cannot be deleted
        kids = self.sorted_children()
        max_sub = max((len(k.name) * 2 for k in kids), default=0)
        max_vname = max((len(v.name) * 2 for v in self.values), default=0)
        max_vdata = max((len(v.data) for v in self.values), default=0)
        none = 0xFFFFFFFF
        parent = self.parent.off if self.parent is not None and self.parent.off else 0
        return (b"nk" + struct.pack(
            "<HQIIIIIIIIIIIIIIIHH", flags, FILETIME, 0, parent,
            len(kids), 0,
            (self.subkey_list.off or 0) if self.subkey_list else none, none,
            len(self.values), (self.value_list.off or 0) if self.value_list else none,
            self.security.off or 0, none,
            max_sub, 0, max_vname, max_vdata, 0,
            len(name), 0) + name)


def parse_value(name, spec, earlier):
    """(type, data bytes, shared Value or None)."""
    if isinstance(spec, bool):
        raise ValueError("value %r: booleans are not registry values" % name)
    if isinstance(spec, str):
        return REG_SZ, utf16z(spec), None
    if isinstance(spec, int):
        return REG_DWORD, struct.pack("<I", spec & 0xFFFFFFFF), None
    if not isinstance(spec, dict) or len(spec) not in (1, 2):
        raise ValueError("value %r: unknown form %r" % (name, spec))
    if "sz" in spec:
        return REG_SZ, utf16z(spec["sz"]), None
    if "expand" in spec:
        return REG_EXPAND_SZ, utf16z(spec["expand"]), None
    if "multi" in spec:
        return REG_MULTI_SZ, b"".join(utf16z(s) for s in spec["multi"]) + b"\0\0", None
    if "dword" in spec:
        return REG_DWORD, struct.pack("<I", spec["dword"] & 0xFFFFFFFF), None
    if "qword" in spec:
        return REG_QWORD, struct.pack("<Q", spec["qword"] & 0xFFFFFFFFFFFFFFFF), None
    if "binary" in spec:
        return REG_BINARY, bytes.fromhex(spec["binary"]), None
    if "type" in spec and "hex" in spec:
        return int(spec["type"]), bytes.fromhex(spec["hex"]), None
    if "same_as" in spec:
        other = earlier.get(spec["same_as"])
        if other is None:
            raise ValueError("value %r: same_as names no earlier value" % name)
        return other.vtype, other.data, other
    raise ValueError("value %r: unknown form %r" % (name, spec))


def build_tree(spec):
    security = Security()
    root = Key(spec.get("root", "ROOT"), None, security)
    for path, values in spec.get("keys", {}).items():
        key = root
        for part in [p for p in path.split("/") if p]:
            key = key.child(part)
        if not isinstance(values, dict):
            raise ValueError("key %r: values must be an object" % path)
        earlier = {v.name: v for v in key.values}
        for vname, vspec in values.items():
            vtype, data, shared = parse_value(vname, vspec, earlier)
            v = Value(vname, vtype, data)
            v.shared = shared
            key.values.append(v)
            earlier[vname] = v
    return root, security


def collect_cells(root, security, lists, ri_chunk):
    """Every cell in layout order: root key first, then depth first."""
    cells = [root, security]

    def visit(key):
        security.refs += 1
        kids = key.sorted_children()
        if kids:
            if lists == "ri":
                chunks = [SubkeyList("lh", kids[i:i + ri_chunk])
                          for i in range(0, len(kids), ri_chunk)]
                cells.extend(chunks)
                key.subkey_list = RiList(chunks)
            else:
                key.subkey_list = SubkeyList(lists, kids)
            cells.append(key.subkey_list)
        if key.values:
            key.value_list = ValueList(key.values)
            cells.append(key.value_list)
            for v in key.values:
                cells.append(v)
                if v.shared is not None:
                    v.data_cell = v.shared.data_cell
                elif len(v.data) <= 4:
                    v.data_cell = None
                elif len(v.data) <= MAX_SEGMENT:
                    v.data_cell = Raw(v.data)
                    cells.append(v.data_cell)
                else:
                    segs = [Raw(v.data[i:i + MAX_SEGMENT])
                            for i in range(0, len(v.data), MAX_SEGMENT)]
                    seg_list = OffsetList(segs)
                    v.data_cell = BigData(seg_list, len(segs))
                    cells.extend([v.data_cell, seg_list] + segs)
        for k in kids:
            cells.append(k)
            visit(k)

    visit(root)
    return cells


def layout(cells):
    """Assign offsets, packing cells into 4 KiB bins. Returns the bins' sizes."""
    bins = []  # sizes
    used = HBIN  # room used in the current bin (full: start a new one)
    base = 0  # offset of the current bin
    for c in cells:
        size = align8(4 + len(c.body()))
        if used + size > (bins[-1] if bins else 0):
            base = sum(bins)
            bins.append(max(HBIN, (32 + size + HBIN - 1) // HBIN * HBIN))
            used = 32
        c.off = base + used
        used += size
    return bins


def serialize(cells, bins, name):
    data = bytearray()
    by_bin = {}
    for c in cells:
        by_bin.setdefault(c.off // HBIN, []).append(c)
    start = 0
    for size in bins:
        b = bytearray(b"hbin" + struct.pack("<III", start, size, 0) +
                      struct.pack("<IQI", 0, FILETIME if start == 0 else 0, 0))
        b = b[:32]
        pos = start + 32
        for c in sorted((c for c in cells if start <= c.off < start + size), key=lambda c: c.off):
            assert c.off == pos
            body = c.body()
            csize = align8(4 + len(body))
            b += struct.pack("<i", -csize) + body + b"\0" * (csize - 4 - len(body))
            pos += csize
        if pos < start + size:
            free = start + size - pos
            b += struct.pack("<i", free) + b"\0" * (free - 4)
        assert len(b) == size
        data += b
        start += size
    root = cells[0]
    seq = 1
    while True:
        hdr = bytearray(4096)
        hdr[0:4] = b"regf"
        struct.pack_into("<IIQIIIIIII", hdr, 4, seq, seq, FILETIME, 1, 5, 0, 1, root.off,
                         len(data), 1)
        fname = ("\\??\\C:\\Windows\\System32\\config\\" + name).encode("utf-16-le")[:64]
        hdr[0x30:0x30 + len(fname)] = fname
        csum = 0
        for i in range(0, 0x1FC, 4):
            csum ^= struct.unpack_from("<I", hdr, i)[0]
        if csum not in (0, 0xFFFFFFFF):  # values the format reserves
            break
        seq += 1
    struct.pack_into("<I", hdr, 0x1FC, csum)
    return bytes(hdr) + bytes(data)


def make_hive(spec):
    lists = spec.get("lists", "lh")
    if lists not in ("lh", "lf", "li", "ri"):
        raise ValueError("lists must be lh, lf, li or ri")
    root, security = build_tree(spec)
    cells = collect_cells(root, security, lists, int(spec.get("ri_chunk", 2)))
    bins = layout(cells)
    return serialize(cells, bins, spec.get("name", "HIVE"))


def main():
    ap = argparse.ArgumentParser(description="Write a minimal Windows registry hive from JSON.")
    ap.add_argument("-o", "--output", required=True, help="hive file to write")
    ap.add_argument("--json", help="the spec as a JSON string")
    ap.add_argument("spec", nargs="?", help="spec file (JSON), or - for stdin")
    args = ap.parse_args()
    if args.json is not None:
        spec = json.loads(args.json)
    elif args.spec in (None, "-"):
        spec = json.load(sys.stdin)
    else:
        with open(args.spec, encoding="utf-8") as f:
            spec = json.load(f)
    try:
        hive = make_hive(spec)
    except (ValueError, KeyError, TypeError) as e:
        sys.exit("mkhive: %s" % e)
    with open(args.output, "wb") as f:
        f.write(hive)


if __name__ == "__main__":
    main()
