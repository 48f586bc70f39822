#!/usr/bin/python3
"""Python senders for bench/run: SSLSocket.sendfile, stdlib ssl or kssl.

usage: py_server.py [--kssl] CERT KEY DIR  -> prints "listening PORT"
One thread per connection, keep-alive unless the request says
"Connection: close". Without --kssl: the
stdlib ssl module, whose SSLSocket.sendfile is an 8 KiB read/send loop.
With --kssl: the same code on `import kssl as ssl` (kssl must be on
PYTHONPATH), whose sendfile goes file -> kernel TLS by sendfile(2) when TX is
offloaded, and through libkssl's userspace records when it is not.
"""
import os
import socket
import sys
import threading

if "--kssl" in sys.argv[1:]:
    sys.argv.remove("--kssl")
    import kssl as ssl
else:
    import ssl


def serve_request(conn, root, pending):
    """One request; returns (keep_alive, bytes already read of the next)."""
    req = pending
    while b"\r\n\r\n" not in req:
        chunk = conn.recv(4096)
        if not chunk:
            return False, b""
        req += chunk
    head, _, rest = req.partition(b"\r\n\r\n")
    path = head.split(b" ")[1].decode()
    if ".." in path:
        return False, b""
    low = head.lower() + b"\r\n"  # HTTP/1.0 (openssl s_time -www) closes by default
    close = b"\r\nconnection: close" in low or (
        b" http/1.0\r\n" in low and b"\r\nconnection: keep-alive" not in low)
    with open(os.path.join(root, path.lstrip("/")), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                     b"Connection: %s\r\n\r\n" % (size, b"close" if close else b"keep-alive"))
        conn.sendfile(f)
    return not close, rest


def handle(conn, root):
    try:
        # The head and the body leave in separate records: with Nagle on, the
        # body waits for the client's delayed ACK of the head (~40 ms per
        # response), which would measure the ACK timer instead of sendfile.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.do_handshake()
        keep, pending = True, b""
        while keep:
            keep, pending = serve_request(conn, root, pending)
        conn.unwrap()
    except (OSError, ssl.SSLError, ValueError, IndexError):
        pass
    finally:
        conn.close()


def main():
    cert, key, root = sys.argv[1:4]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    lsock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    print("listening %d" % lsock.getsockname()[1], flush=True)
    with ctx.wrap_socket(lsock, server_side=True,
                         do_handshake_on_connect=False) as srv:
        while True:
            try:
                conn, _ = srv.accept()
            except (OSError, ssl.SSLError):
                continue
            threading.Thread(target=handle, args=(conn, root), daemon=True).start()


if __name__ == "__main__":
    main()
