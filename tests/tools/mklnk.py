#!/usr/bin/env python3
"""Write a Windows shortcut (.lnk) as MS-SHLLINK lays it out, for the tests.

    mklnk.py -o OUT [--target C:\\path\\x.exe] [--args ARGS] [--workdir DIR]
             [--env %COMSPEC%] [--name TEXT]

--target makes a LinkInfo with a VolumeID and LocalBasePath (what Explorer
writes for a shortcut to a local file); --env an EnvironmentVariableDataBlock
(the target as an environment-variable path, shortcuts that hide theirs);
--args, --workdir and --name the StringData strings (UTF-16LE). Check one with
`lnkinfo OUT` (liblnk-utils).
"""
import argparse
import struct

CLSID = bytes.fromhex("0114020000000000c000000000000046")
HAS_LINK_INFO, HAS_NAME, HAS_WORKING_DIR, HAS_ARGUMENTS = 0x2, 0x4, 0x10, 0x20
IS_UNICODE, HAS_EXP_STRING = 0x80, 0x200


def string_data(s):
    u = s.encode("utf-16-le")
    return struct.pack("<H", len(u) // 2) + u


def link_info(path):
    label = b"\0"
    volume = struct.pack("<IIII", 16 + len(label), 3, 0x12345678, 16) + label
    base = path.encode("cp1252") + b"\0"
    suffix = b"\0"
    header = 0x1C
    vol_off = header
    base_off = vol_off + len(volume)
    suf_off = base_off + len(base)
    size = suf_off + len(suffix)
    return struct.pack("<IIIIIII", size, header, 1, vol_off, base_off, 0, suf_off) + volume + base + suffix


def env_block(path):
    ansi = path.encode("cp1252")[:259].ljust(260, b"\0")
    uni = path.encode("utf-16-le")[:518].ljust(520, b"\0")
    return struct.pack("<II", 0x314, 0xA0000001) + ansi + uni


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--target")
    ap.add_argument("--args")
    ap.add_argument("--workdir")
    ap.add_argument("--env")
    ap.add_argument("--name")
    a = ap.parse_args()
    flags = IS_UNICODE
    body = b""
    if a.target:
        flags |= HAS_LINK_INFO
        body += link_info(a.target)
    if a.name:
        flags |= HAS_NAME
        body += string_data(a.name)
    if a.workdir:
        flags |= HAS_WORKING_DIR
        body += string_data(a.workdir)
    if a.args:
        flags |= HAS_ARGUMENTS
        body += string_data(a.args)
    extra = b""
    if a.env:
        flags |= HAS_EXP_STRING
        extra += env_block(a.env)
    extra += b"\0\0\0\0"
    ft = 132537600000000000  # 2021-01-01, as a FILETIME
    header = struct.pack("<I16sII", 0x4C, CLSID, flags, 0x20) + struct.pack("<QQQ", ft, ft, ft)
    header += struct.pack("<IiIHHII", 0, 0, 1, 0, 0, 0, 0)
    assert len(header) == 0x4C, len(header)
    with open(a.o, "wb") as f:
        f.write(header + body + extra)


if __name__ == "__main__":
    main()
