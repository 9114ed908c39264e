#!/usr/bin/env python3
"""A tiny SMTP server for the tests (python's standard library only): it
accepts every message and writes it to DIR/N.eml, with the envelope in
DIR/N.env (MAIL FROM, then each RCPT TO). With --cert and --key it offers
STARTTLS and refuses MAIL before it (as a relay that requires it does);
without them it offers no STARTTLS at all. It listens on 127.0.0.1, on the
port written to DIR/port once it is ready, until killed.

Also, with --journal SOCKET, a journald stand-in: every datagram received on
that Unix socket is appended to DIR/journal (entries separated by a blank line).

usage: smtp_sink.py DIR [--cert FILE --key FILE] [--journal SOCKET]
"""
import os
import socket
import ssl
import sys
import threading

args = sys.argv[1:]
out = args.pop(0)
opt = {}
while args:
    k = args.pop(0)
    opt[k] = args.pop(0)
os.makedirs(out, exist_ok=True)
lock = threading.Lock()
count = [0]
tls_ctx = None
if "--cert" in opt:
    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ctx.load_cert_chain(opt["--cert"], opt["--key"])


def serve(conn):
    f = conn.makefile("rwb")
    tls = False

    def say(line):
        f.write(line.encode() + b"\r\n")
        f.flush()

    say("220 sink ESMTP")
    mail_from, rcpt = None, []
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.decode("utf-8", "replace").strip()
        up = cmd.upper()
        if up.startswith("EHLO") or up.startswith("HELO"):
            ext = ["250-sink", "250-8BITMIME"]
            if tls_ctx and not tls:
                ext.append("250-STARTTLS")
            ext.append("250 SIZE 10000000")
            for e in ext:
                say(e)
        elif up == "STARTTLS" and tls_ctx and not tls:
            say("220 go ahead")
            conn = tls_ctx.wrap_socket(conn, server_side=True)
            f = conn.makefile("rwb")
            tls = True
        elif up.startswith("MAIL FROM:"):
            if tls_ctx and not tls:
                say("530 must issue STARTTLS first")
                continue
            mail_from, rcpt = cmd[10:].strip(), []
            say("250 ok")
        elif up.startswith("RCPT TO:"):
            rcpt.append(cmd[8:].strip())
            say("250 ok")
        elif up == "DATA":
            say("354 end with .")
            data = b""
            while True:
                l = f.readline()
                if not l or l in (b".\r\n", b".\n"):
                    break
                if l.startswith(b".."):
                    l = l[1:]
                data += l
            with lock:
                count[0] += 1
                n = count[0]
            with open(os.path.join(out, "%d.env" % n), "w") as e:
                e.write("\n".join([mail_from or ""] + rcpt) + "\n")
            with open(os.path.join(out, "%d.eml" % n), "wb") as m:
                m.write(data)
            say("250 queued as %d" % n)
        elif up == "QUIT":
            say("221 bye")
            return
        elif up in ("RSET", "NOOP"):
            say("250 ok")
        else:
            say("502 not implemented")


def journal(s):
    while True:
        d = s.recv(65536)
        with open(os.path.join(out, "journal"), "ab") as j:
            j.write(d + b"\n")


if "--journal" in opt:
    js = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    js.bind(opt["--journal"])
    threading.Thread(target=journal, args=(js,), daemon=True).start()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
with open(os.path.join(out, "port.tmp"), "w") as p:
    p.write(str(srv.getsockname()[1]))
os.rename(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
while True:
    c, _ = srv.accept()
    # c=c: each thread keeps its own connection (a late-starting thread must not
    # see the next one).
    threading.Thread(target=lambda c=c: (serve(c), c.close()), daemon=True).start()
