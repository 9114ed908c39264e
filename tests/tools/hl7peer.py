#!/usr/bin/env python3
"""A small HL7 v2 / MLLP peer for the probe tests (no HL7 listener is packaged).

    hl7peer.py --port-file FILE [--log FILE]      an HL7 receiver
    hl7peer.py --port-file FILE --silent          accepts connections, never answers

It listens on 127.0.0.1 (a free port, written to --port-file once listening),
reads each message framed as <VT> message <FS><CR>, and answers with an ACK
that echoes MSH-10 in MSA-2:
  - AA (application accept), normally;
  - AE with MSA-3 "test peer rejects this message" when the message holds
    CLEANROOM-REJECT;
  - AA for another control id when it holds CLEANROOM-WRONGID;
  - a non-HL7 answer when it holds CLEANROOM-GARBAGE;
  - nothing at all (the connection stays open) when it holds CLEANROOM-HANG.
--log appends each message received (segments on their own lines) to FILE.
"""
import argparse
import socket
import sys
import threading
import time

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"


def read_frame(conn):
    buf = b""
    while FS + CR not in buf:
        if len(buf) > 1 << 20:
            return None
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    start = buf.find(VT)
    if start < 0:
        return None
    return buf[start + 1:buf.index(FS + CR)]


def ack(msg, code, text="", control_id=None):
    segs = msg.split(b"\r")
    msh = segs[0]
    sep = msh[3:4]
    fields = msh.split(sep)
    # fields[0] = "MSH", fields[1] = MSH-2, fields[n] = MSH-(n+1)
    their_id = fields[9] if len(fields) > 9 else b""
    if control_id is None:
        control_id = their_id
    sending = fields[2] if len(fields) > 2 else b""
    ts = time.strftime("%Y%m%d%H%M%S").encode()
    out = sep.join([b"MSH", fields[1] if len(fields) > 1 else b"^~\\&", b"HL7PEER", b"TEST",
                    sending, b"", ts, b"", b"ACK^A01^ACK", b"ACK" + ts, b"P", b"2.5.1"])
    out += CR + sep.join([b"MSA", code, control_id, text.encode()]) + CR
    return VT + out + FS + CR


def serve(conn, args):
    with conn:
        if args.silent:
            while conn.recv(65536):
                pass
            return
        msg = read_frame(conn)
        if msg is None:
            return
        if args.log:
            with open(args.log, "ab") as f:
                f.write(msg.replace(b"\r", b"\n") + b"\n")
        if b"CLEANROOM-HANG" in msg:
            while conn.recv(65536):
                pass
            return
        if b"CLEANROOM-GARBAGE" in msg:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            return
        if b"CLEANROOM-REJECT" in msg:
            conn.sendall(ack(msg, b"AE", "test peer rejects this message"))
        elif b"CLEANROOM-WRONGID" in msg:
            conn.sendall(ack(msg, b"AA", control_id=b"SOMEONE-ELSE"))
        else:
            conn.sendall(ack(msg, b"AA"))
        # Wait for the client to close, as an engine would.
        conn.settimeout(10)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--silent", action="store_true")
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
