#!/usr/bin/env python3
"""Hostile peers for the directory probes (dns, kerberos, smb) on 127.0.0.1.

    dirpeer.py --port-file FILE MODE

Listens on a free port (UDP for the dns-* modes, TCP for the others), writes it
to FILE once listening, and answers every request the way MODE says:
  dns-garbage   a reply with the query's id and QR set, then bytes that are no
                DNS message (a question count pointing past the end)
  dns-servfail  a well-formed reply with RCODE SERVFAIL
  dns-wrongid   a reply to another id (the probe must keep waiting, then time out)
  dns-huge      a reply with TC set; over TCP, a length of 65535 and garbage
  kdc-huge      a Kerberos TCP reply announcing 2 GiB
  kdc-junk      a Kerberos TCP reply of 64 bytes that are no Kerberos message
  smb-junk      64 KiB of junk to whatever is sent, then close
"""
import argparse
import socket
import struct
import threading


def serve_udp(sock, mode, tcp_port_holder):
    while True:
        data, addr = sock.recvfrom(65535)
        if len(data) < 12:
            continue
        qid = data[:2]
        if mode == "dns-garbage":
            reply = qid + b"\x81\x80" + b"\x00\x05\x00\x09\x00\x00\x00\x00" + b"\xff" * 7
        elif mode == "dns-servfail":
            reply = qid + b"\x81\x82" + data[4:6] + b"\x00\x00\x00\x00\x00\x00" + data[12:]
        elif mode == "dns-wrongid":
            other = struct.pack(">H", (struct.unpack(">H", qid)[0] + 1) & 0xFFFF)
            reply = other + b"\x81\x80" + data[4:]
        elif mode == "dns-huge":
            reply = qid + b"\x83\x80" + data[4:6] + b"\x00\x00\x00\x00\x00\x00" + data[12:]
        else:
            continue
        sock.sendto(reply, addr)


def handle_tcp(conn, mode):
    try:
        conn.settimeout(10)
        conn.recv(65536)
        if mode == "dns-huge":
            conn.sendall(b"\xff\xff" + b"\x00" * 65535)
        elif mode == "kdc-huge":
            conn.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 1024)
        elif mode == "kdc-junk":
            conn.sendall(struct.pack(">I", 64) + b"\x7e" * 64)
        elif mode == "smb-junk":
            conn.sendall(b"\x00\x00\xff\xff" + b"\xa5" * 65531)
    except OSError:
        pass
    finally:
        conn.close()


def serve_tcp(sock, mode):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle_tcp, args=(conn, mode), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("mode", choices=["dns-garbage", "dns-servfail", "dns-wrongid", "dns-huge",
                                     "kdc-huge", "kdc-junk", "smb-junk"])
    a = ap.parse_args()
    threads = []
    if a.mode.startswith("dns-"):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("127.0.0.1", port))  # same port for the TCP retry after TC
        t.listen(8)
        threads.append(threading.Thread(target=serve_udp, args=(u, a.mode, None), daemon=True))
        threads.append(threading.Thread(target=serve_tcp, args=(t, a.mode), daemon=True))
    else:
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        t.listen(8)
        port = t.getsockname()[1]
        threads.append(threading.Thread(target=serve_tcp, args=(t, a.mode), daemon=True))
    for th in threads:
        th.start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(port))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    for th in threads:
        th.join()


if __name__ == "__main__":
    main()
