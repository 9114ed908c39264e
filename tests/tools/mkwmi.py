#!/usr/bin/env python3
"""Write a stand-in for a WMI repository's OBJECTS.DATA, for the tests.

    mkwmi.py -o OUT SPEC.json

It is not a repository Windows could open: pages of filler (8 KiB, as the
repository's), the class definitions every repository holds (their names and
property names, which must not be taken for subscriptions), then one record
per instance, laid out as PyWMIPersistenceFinder finds them in real files:

  consumer  "<Class>\\0\\0" noise "\\0" ... "<name>\\0\\0<CommandLineTemplate>\\0"
            (ActiveScriptEventConsumer: "<name>\\0\\0<engine>\\0\\0<ScriptText>\\0")
  filter    "<filter>\\0\\0<query>\\0\\0"
  binding   "__FilterToConsumerBinding\\0" ... "<Class>.Name=\\"<name>\\"\\0\\0"
            "__EventFilter.Name=\\"<filter>\\"\\0"

SPEC: {"subscriptions": [{"class": "CommandLineEventConsumer", "consumer": "x",
        "filter": "f", "query": "SELECT ...", "command": "...", "engine": "VBScript",
        "script": "...", "utf16": false, "bind": true}], "pages": 4}
"utf16": the instance's strings in UTF-16LE (as the repository stores a string
that is not ASCII); "bind": false leaves the binding out.
"""
import argparse
import json
import random

PAGE = 8192


def enc(s, utf16):
    return s.encode("utf-16-le") if utf16 else s.encode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("spec")
    a = ap.parse_args()
    spec = json.load(open(a.spec))
    rnd = random.Random(7)
    out = bytearray()
    for _ in range(spec.get("pages", 2)):
        out += bytes(rnd.randrange(256) for _ in range(PAGE))
    classes = b""
    for c in ("__EventFilter", "__EventConsumer", "CommandLineEventConsumer",
              "ActiveScriptEventConsumer", "NTEventLogEventConsumer", "__FilterToConsumerBinding"):
        classes += c.encode() + b"\0\0" + b"Name\0CommandLineTemplate\0ScriptText\0Query\0\0"
    out += classes
    for s in spec.get("subscriptions", []):
        u = s.get("utf16", False)
        z = b"\0\0" if u else b"\0"
        cls = s["class"]
        rec = enc(cls, u) + z + z + b"\x12\x34\x01" + z + enc("sid", u) + z
        rec += enc(s["consumer"], u) + z + z
        if cls == "ActiveScriptEventConsumer":
            rec += enc(s.get("engine", "VBScript"), u) + z + z + enc(s.get("script", ""), u) + z
        else:
            rec += enc(s.get("command", ""), u) + z
        out += b"\xaa" * 40 + rec
        out += b"\xbb" * 24 + enc(s["filter"], u) + z + z + enc(s.get("query", ""), u) + z + z
        if s.get("bind", True):
            b = enc("__FilterToConsumerBinding", u) + z + b"\x01\x02" + z
            b += enc('%s.Name="%s"' % (cls, s["consumer"]), u) + z + z
            b += enc('__EventFilter.Name="%s"' % s["filter"], u) + z
            out += b"\xcc" * 16 + b
    out += bytes(rnd.randrange(256) for _ in range(PAGE - len(out) % PAGE))
    open(a.o, "wb").write(out)


if __name__ == "__main__":
    main()
