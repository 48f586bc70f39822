#!/bin/sh
# Install smoke test: `cmake --install` into a temporary prefix, build
# examples/tls_file_sender.c against it with pkg-config (shared and static),
# and move a file to kssl-peer through each binary, comparing SHA-256.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
pc="pkg-config --define-variable=prefix=$tmp/prefix"
test -f "$tmp/prefix/include/kssl/kssl.h"
test -f "$tmp/prefix/include/kssl/kssl_uring.h"
test -x "$tmp/prefix/bin/kssl"
# `kssl bench` runs from the installed prefix alone: the script, its modules
# and the reference sender are installed, and nothing names the source tree.
test -x "$tmp/prefix/share/kssl/bench/run"
test -x "$tmp/prefix/share/kssl/bench/ossl_sender"
env -u KSSL_BENCH_SCRIPT "$tmp/prefix/bin/kssl" bench --help | grep -q -- '--quick'
strip -o "$tmp/kssl-stripped" "$tmp/prefix/bin/kssl" # debug info may name it
if grep -q "$src" "$tmp/kssl-stripped"; then
	echo "the installed kssl names the source tree $src" >&2
	exit 1
fi

cc -std=c11 -Wall -Wextra -Werror "$src/examples/tls_file_sender.c" \
	$($pc --cflags --libs kssl) -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/sender-shared"
cc -std=c11 -Wall -Wextra -Werror "$src/examples/tls_file_sender.c" \
	$($pc --cflags kssl) "$tmp/prefix/lib/libkssl.a" \
	$($pc --libs-only-other --static kssl) $(pkg-config --libs libssl libcrypto) \
	-lpthread -o "$tmp/sender-static"
# The shared library exports the public API only.
if nm -D --defined-only "$tmp/prefix/lib/libkssl.so" | awk '{print $3}' |
	grep -v '^kssl_' | grep -qv '^KSSL_0$'; then
	echo "libkssl.so exports non-kssl_ symbols:" >&2
	nm -D --defined-only "$tmp/prefix/lib/libkssl.so" | grep -v ' kssl_' >&2
	exit 1
fi

head -c 3000001 /dev/urandom > "$tmp/data"
want=$(sha256sum "$tmp/data" | cut -d' ' -f1)
for kind in shared static; do
	# Port 0: the sender binds a free port and prints it (parallel runs of
	# this test must not collide).
	"$tmp/sender-$kind" "$build/certs/server.pem" "$build/certs/server.key" \
		"$tmp/data" 0 > "$tmp/out-$kind" 2>&1 &
	pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out-$kind")
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { cat "$tmp/out-$kind" >&2; exit 1; }
	got=$("$build/tests/kssl-peer" client --port "$port" --name localhost \
		--ca "$build/certs/ca.pem" --recv | awk '/^recv/{print $3}')
	wait $pid
	pid=
	if [ "$got" != "$want" ]; then
		echo "$kind: bytes differ ($got != $want)" >&2
		cat "$tmp/out-$kind" >&2
		exit 1
	fi
	grep -q '^sent 3000001$' "$tmp/out-$kind"
	# Where the kernel has kTLS the example must really offload.
	if [ "${KSSL_IN_VM:-0}" = 1 ] || grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
		grep -q '^tx: kernel$' "$tmp/out-$kind"
		grep -q '^rx: kernel$' "$tmp/out-$kind"
	fi
	echo "$kind: ok ($(grep '^tx:' "$tmp/out-$kind"))"
done
