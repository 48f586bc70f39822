#!/bin/sh
# Test PKI, generated fresh for each build: nothing secret is committed.
#   ca.pem/ca.key        test root CA
#   server.pem/.key      localhost + 127.0.0.1 + ::1, signed by ca (RSA 2048)
#   server-ec.pem/.key   same names, ECDSA P-256
#   client.pem/.key      client certificate signed by ca
#   expired.pem/.key     localhost, signed by ca, validity in the past
#   other-ca.pem         an unrelated CA; wrong.pem/.key signed by it
#   chain.pem            server.pem followed by ca.pem
#   dh3072.pem, dh512.pem  DH parameters (RFC 7919 ffdhe3072; a weak group)
set -eu
out=${1:?usage: make-certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
# DH parameters for load_dh_params (made also in an older OUTDIR): RFC
# 7919's 3072-bit group (larger than the 2048-bit one OpenSSL picks for
# server.key by itself) and a 512-bit group security level 1+ refuses.
[ -f dh3072.pem ] || openssl genpkey -genparam -algorithm DH \
	-pkeyopt group:ffdhe3072 -out dh3072.pem
[ -f dh512.pem ] || openssl genpkey -genparam -algorithm DH \
	-pkeyopt dh_paramgen_prime_len:512 -out dh512.pem 2>/dev/null
[ -f .done ] && exit 0
days=3650
san="subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
	-days $days -subj "/CN=kssl test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem \
	-days $days -subj "/CN=kssl other CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

leaf() { # name keytype ca cn extra-x509-args...
	name=$1 keytype=$2 ca=$3 cn=$4
	shift 4
	if [ "$keytype" = ec ]; then
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$name.key" 2>/dev/null
	else
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
			-out "$name.key" 2>/dev/null
	fi
	openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
	printf '%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
		"$san" > "$name.ext"
	openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
		-CAcreateserial -out "$name.pem" -extfile "$name.ext" "$@" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}
leaf server rsa ca localhost -days $days
leaf server-ec ec ca localhost -days $days
leaf client rsa ca "kssl test client" -days $days
leaf wrong rsa other-ca localhost -days $days
# Expired: notAfter one day before notBefore (= now), so always in the past.
leaf expired rsa ca localhost -days -1
cat server.pem ca.pem > chain.pem
touch .done
