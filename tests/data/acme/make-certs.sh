#!/bin/sh
# tests/data/acme/make-certs.sh - make the certificates test_acme.c reads
# (run once; the output is committed). Needs the openssl command.
#   ari-cert.pem   a leaf with the RFC 9773 section 4.1 example's authority
#                  key identifier (69:88:5B:...:C8:D4) and serial 0x87654321
#   chain-x.pem    leaf, intermediate issued by "Test Root X"
#   chain-y.pem    the same leaf, the same intermediate key issued by "Test Root Y"
#   chain-ycross.pem  chain-y's certificates, then "Test Root Y" cross-signed
#                  by "Test Root X" (its last certificate's subject is Root Y)
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$t/$1.key" 2>/dev/null; }
ext() { printf '%s\n' "$@" >"$t/ext"; }
for k in rootx rooty inter leaf arica arileaf; do key $k; done
# self-signed roots
for r in x y; do
	R=$(echo $r | tr xy XY)
	openssl req -x509 -new -key "$t/root$r.key" -subj "/CN=Test Root $R" -days 36500 \
		-addext basicConstraints=critical,CA:TRUE -out "$t/root$r.pem"
done
# the intermediate, issued by X and by Y
openssl req -new -key "$t/inter.key" -subj "/CN=Test Intermediate" -out "$t/inter.csr"
ext basicConstraints=critical,CA:TRUE subjectKeyIdentifier=hash authorityKeyIdentifier=keyid
for r in x y; do
	openssl x509 -req -in "$t/inter.csr" -CA "$t/root$r.pem" -CAkey "$t/root$r.key" \
		-set_serial $(test $r = x && echo 0x11 || echo 0x22) -days 36500 -extfile "$t/ext" -out "$t/inter$r.pem" 2>/dev/null
done
# the leaf, issued by the intermediate
openssl req -new -key "$t/leaf.key" -subj "/CN=mta-sts.a.test" -out "$t/leaf.csr"
ext subjectAltName=DNS:mta-sts.a.test authorityKeyIdentifier=keyid
openssl x509 -req -in "$t/leaf.csr" -CA "$t/interx.pem" -CAkey "$t/inter.key" \
	-set_serial 0x1234 -days 36500 -extfile "$t/ext" -out "$t/leaf.pem" 2>/dev/null
# Root Y cross-signed by Root X
openssl req -new -key "$t/rooty.key" -subj "/CN=Test Root Y" -out "$t/rooty.csr"
ext basicConstraints=critical,CA:TRUE
openssl x509 -req -in "$t/rooty.csr" -CA "$t/rootx.pem" -CAkey "$t/rootx.key" \
	-set_serial 0x77 -days 36500 -extfile "$t/ext" -out "$t/ycross.pem" 2>/dev/null
cat "$t/leaf.pem" "$t/interx.pem" >chain-x.pem
cat "$t/leaf.pem" "$t/intery.pem" >chain-y.pem
cat "$t/leaf.pem" "$t/intery.pem" "$t/ycross.pem" >chain-ycross.pem
# the ARI example: a CA whose subject key identifier is the RFC's keyIdentifier
openssl req -x509 -new -key "$t/arica.key" -subj "/CN=Test ARI CA" -days 36500 \
	-addext basicConstraints=critical,CA:TRUE \
	-addext subjectKeyIdentifier=69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 \
	-out "$t/arica.pem"
openssl req -new -key "$t/arileaf.key" -subj "/CN=ari.example" -out "$t/arileaf.csr"
ext subjectAltName=DNS:ari.example authorityKeyIdentifier=keyid
openssl x509 -req -in "$t/arileaf.csr" -CA "$t/arica.pem" -CAkey "$t/arica.key" \
	-set_serial 0x87654321 -days 36500 -extfile "$t/ext" -out ari-cert.pem 2>/dev/null
# a leaf without an authority key identifier
ext subjectAltName=DNS:ari.example authorityKeyIdentifier=none subjectKeyIdentifier=none
openssl x509 -req -in "$t/arileaf.csr" -CA "$t/arica.pem" -CAkey "$t/arica.key" \
	-set_serial 0x10 -days 36500 -extfile "$t/ext" -out no-aki.pem 2>/dev/null
