#!/usr/bin/python3
"""A zero-copy HTTPS file server: http.server + kssl + SSLSocket.sendfile.

    PYTHONPATH=build/python python3 examples/https_sendfile_server.py \
        --cert server.pem --key server.key --port 8443 DIRECTORY

File bodies go out with sendfile(2): where the kernel has TLS (kTLS) the
bytes travel file -> kernel TLS and never enter this process; elsewhere
kssl falls back to OpenSSL and says why (logged per connection).
"""
import argparse
import functools
import http.server

import kssl


class Handler(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, source, outputfile):
        outputfile.flush()  # headers first, then the body by sendfile
        self.connection.sendfile(source)

    def log_request(self, code="-", size="-"):
        off = self.connection.offload
        self.log_message('"%s" %s tx=%s%s', self.requestline, code, off.tx,
                         "" if off.tx == "kernel" else " (%s)" % off.tx_reason)


class Server(http.server.ThreadingHTTPServer):
    def __init__(self, address, handler, context):
        super().__init__(address, handler)
        self.context = context

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake runs in the request thread (first read), not here.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # clients that go away mid-transfer are not news


def make_server(directory, certfile, keyfile, host="127.0.0.1", port=8443):
    ctx = kssl.create_default_context(kssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    handler = functools.partial(Handler, directory=directory)
    return Server((host, port), handler, ctx)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    a = p.parse_args()
    print("kernel TLS:", kssl.probe())
    with make_server(a.directory, a.cert, a.key, a.host, a.port) as srv:
        print("serving https://%s:%d/" % srv.server_address[:2])
        srv.serve_forever()


if __name__ == "__main__":
    main()
