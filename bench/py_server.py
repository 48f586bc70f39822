#!/usr/bin/python3
"""CPython reference sender for bench/run: ssl.SSLSocket.sendfile.

usage: py_server.py CERT KEY DIR  -> prints "listening PORT"
One thread per connection, one GET per connection.
"""
import os
import socket
import ssl
import sys
import threading


def handle(conn, root):
    try:
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
