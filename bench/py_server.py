#!/usr/bin/python3
"""Python senders for bench/run: SSLSocket.sendfile, stdlib ssl or kssl.

usage: py_server.py [--kssl] CERT KEY DIR  -> prints "listening PORT"
One thread per connection, one GET per connection. Without --kssl: the
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


def handle(conn, root):
    try:
        # The head and the body leave in separate records: with Nagle on, the
        # body waits for the client's delayed ACK of the head (~40 ms per
        # response), which would measure the ACK timer instead of sendfile.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.do_handshake()
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = conn.recv(4096)
            if not chunk:
                return
            req += chunk
        path = req.split(b" ")[1].decode()
        if ".." in path:
            return
        with open(os.path.join(root, path.lstrip("/")), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % size)
            conn.sendfile(f)
        conn.unwrap()
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main():
    cert, key, root = sys.argv[1:4]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    lsock = socket.create_server(("127.0.0.1", 0), backlog=1024)
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
