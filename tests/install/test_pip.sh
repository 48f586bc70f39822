#!/bin/sh
# Python packaging test: `pip wheel .` and `pip install .` at the repository
# root, offline (--no-index), with each interpreter given; then `import kssl`
# from the installed copy (outside the tree) moves bytes over TLS, and no
# installed file names the source tree.
#   test_pip.sh SOURCE_DIR CERT_DIR PYTHON...
set -eu
src=$1 certs=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/roundtrip.py" <<'PY'
import hashlib, os, socket, sys, threading
import kssl
certs = sys.argv[1]
assert os.path.dirname(kssl.__file__).startswith(sys.argv[2]), kssl.__file__
data = os.urandom(1 << 20)
srv_ctx = kssl.create_default_context(kssl.Purpose.CLIENT_AUTH)
srv_ctx.load_cert_chain(os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
cli_ctx = kssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
lsock = socket.create_server(("127.0.0.1", 0))
def serve():
    conn, _ = lsock.accept()
    with srv_ctx.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(data)
        tls.unwrap()
t = threading.Thread(target=serve)
t.start()
with cli_ctx.wrap_socket(socket.create_connection(lsock.getsockname()),
                         server_hostname="localhost") as tls:
    got = bytearray()
    while chunk := tls.recv(65536):
        got += chunk
    version = tls.version()
    tls.unwrap()  # answer the server's close_notify
t.join()
assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), "bytes differ"
print("roundtrip ok", kssl.__version__, version)
PY

n=0
for py in "$@"; do
	n=$((n + 1))
	echo "== $py"
	"$py" -m pip wheel --no-index --no-deps -q -w "$tmp/wheels$n" "$src"
	ls "$tmp/wheels$n"/kssl-*.whl
	# A venv (pip install .) where the interpreter has one, else --target.
	if "$py" -m venv "$tmp/venv$n" 2>/dev/null; then
		"$tmp/venv$n/bin/python" -m pip install --no-index -q "$src"
		run="$tmp/venv$n/bin/python"
		site=$("$run" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
	else
		"$py" -m pip install --no-index -q --target "$tmp/target$n" "$src"
		run="env PYTHONPATH=$tmp/target$n $py"
		site="$tmp/target$n"
	fi
	(cd "$tmp" && $run roundtrip.py "$certs" "$site")
	if grep -rlI --exclude='*.pyc' "$src" "$site/kssl" || grep -rl "$src" "$site"/kssl/*.so; then
		echo "installed kssl names the source tree $src" >&2
		exit 1
	fi
done
echo "pip: ok ($n interpreters)"
