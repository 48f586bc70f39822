#!/bin/sh
# Debian packaging test: dpkg-buildpackage (offline, binary only) on a copy
# of the tree, then the four packages unpacked into a throwaway root: the
# packaged `kssl serve` serves a file (SHA-256 compared) and the packaged
# `import kssl` (python3-kssl, on the packaged libkssl's ABI) does TLS.
#   test_deb.sh SOURCE_DIR CERT_DIR
set -eu
src=$1 certs=$2
tmp=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT

mkdir "$tmp/kssl"
tar -C "$src" --exclude='./build*' --exclude=./.git --exclude='./obj-*' \
	--exclude='__pycache__' -cf - . | tar -C "$tmp/kssl" -xf -
(cd "$tmp/kssl" && DEB_BUILD_OPTIONS="parallel=$(nproc) nocheck" \
	dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
	tail -40 "$tmp/build.log" >&2
	exit 1
}
for p in libkssl0 libkssl-dev kssl python3-kssl; do
	deb=$(ls "$tmp"/${p}_*.deb)
	dpkg-deb -x "$deb" "$tmp/root"
	echo "built $(basename "$deb")"
done
test -e "$tmp/root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libkssl.so.0"
test -f "$tmp/root/usr/include/kssl/kssl.h"

# kssl serve from the package.
mkdir "$tmp/www"
head -c 2000003 /dev/urandom > "$tmp/www/data.bin"
"$tmp/root/usr/bin/kssl" serve "$tmp/www" --port 0 > "$tmp/serve.out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's#.*https://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$tmp/serve.out" | head -1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/serve.out" >&2; exit 1; }
curl -sSk -o "$tmp/got.bin" "https://127.0.0.1:$port/data.bin"
kill $pid; wait $pid 2>/dev/null || true; pid=
[ "$(sha256sum < "$tmp/www/data.bin")" = "$(sha256sum < "$tmp/got.bin")" ]
echo "kssl serve (packaged): bytes match"

# import kssl from python3-kssl.
PYTHONPATH="$tmp/root/usr/lib/python3/dist-packages" /usr/bin/python3 - "$certs" "$tmp/root" <<'PY'
import hashlib, os, socket, sys, threading
import kssl
assert kssl.__file__.startswith(sys.argv[2]), kssl.__file__
certs = sys.argv[1]
data = os.urandom(300000)
srv = kssl.create_default_context(kssl.Purpose.CLIENT_AUTH)
srv.load_cert_chain(os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
cli = kssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
ls = socket.create_server(("127.0.0.1", 0))
def serve():
    c, _ = ls.accept()
    with srv.wrap_socket(c, server_side=True) as t:
        t.sendall(data)
        t.unwrap()
th = threading.Thread(target=serve)
th.start()
with cli.wrap_socket(socket.create_connection(ls.getsockname()), server_hostname="localhost") as t:
    got = b"".join(iter(lambda: t.recv(65536), b""))
    t.unwrap()
th.join()
assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
print("python3-kssl (packaged): bytes match")
PY
