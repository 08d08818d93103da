#!/bin/sh
# Apply mta-stsd's build options to an mbedTLS 3.6 source tree (argument: the tree).
# Kept apart from fetch-mbedtls.sh so that the options are easy to read and change.
set -eu
tree=$1
cfg="python3 $tree/scripts/config.py -f $tree/include/mbedtls/mbedtls_config.h"
# speed: fixed-point comb multiplication for the ECDSA/ECDHE base point (default on;
# stated here so a change of upstream default does not silently slow handshakes)
$cfg set MBEDTLS_ECP_FIXED_POINT_OPTIM 1
# speed: Everest's X25519 (verified, 64-bit) for ECDH instead of the generic
# bignum code; measured by make bench: -20 to -42% server CPU per TLS 1.3
# handshake, -55% per TLS 1.2 handshake (docs/BENCHMARKS.md). Everest is
# Apache-2.0 licensed (mbedTLS itself: Apache-2.0 or GPL-2.0-or-later).
$cfg set MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED
# speed: mta-stsd's PSA accelerator driver (scripts/mbedtls-driver/) makes TLS 1.3
# compute the server's X25519 public key with Everest too (the built-in PSA code
# uses ecp.c's generic ladder; TLS 1.2 and the key agreement already use Everest);
# measured: -41% server CPU per TLS 1.3 handshake (docs/BENCHMARKS.md). Adding it
# regenerates the PSA driver wrappers (needs python3-jinja2, python3-jsonschema).
sh "$(dirname "$0")/mbedtls-driver/add-to-tree.sh" "$tree"
$cfg set MTA_STSD_X25519_DRIVER_ENABLED
# speed: mta-stsd's nettle PSA driver (scripts/mbedtls-driver/nettle_driver.c)
# signs ECDSA P-256 and computes P-256 public keys (the key-pair check of every
# certificate loaded) with nettle's secp256r1 code instead of ecp.c's generic
# bignums (docs/BENCHMARKS.md). mbedTLS's TLS and pk layers reach PSA drivers
# only with MBEDTLS_USE_PSA_CRYPTO; the driver signs randomized ECDSA (k from
# PSA's CTR_DRBG), which pk asks for when MBEDTLS_ECDSA_DETERMINISTIC is unset.
# MTA_STSD_NETTLE=yes|no|auto (auto, the default: where pkg-config finds
# hogweed >= 3.6, Debian's nettle-dev); the Makefile passes its NETTLE.
nettle=${MTA_STSD_NETTLE:-auto}
if [ "$nettle" = auto ]; then
	if pkg-config --atleast-version=3.6 hogweed 2>/dev/null; then nettle=yes; else nettle=no; fi
fi
# With MBEDTLS_USE_PSA_CRYPTO every TLS record is one psa_aead_encrypt or
# psa_aead_decrypt call; the driver encrypts those too (AES-GCM and
# ChaCha20-Poly1305 with nettle's AES-NI/PCLMUL code: 0.35 us against the
# built-in GCM's 1.39 us for a 400-byte record, key schedule included,
# docs/BENCHMARKS.md). The alternative, leaving MBEDTLS_USE_PSA_CRYPTO off
# and signing through MBEDTLS_ECDSA_SIGN_ALT, was measured and not taken:
# records stay on mbedTLS's own GCM (slower), the ALT replaces ECDSA signing
# for every curve, and TLS 1.3 uses PSA for its key exchange either way.
if [ "$nettle" = yes ]; then
	$cfg set MTA_STSD_NETTLE_DRIVER_ENABLED
	$cfg set MBEDTLS_USE_PSA_CRYPTO
	$cfg unset MBEDTLS_ECDSA_DETERMINISTIC
fi
# speed: PSA functions work on the caller's buffers instead of copying every
# input and output to the heap first (mbedTLS 3.6's default copies, and wipes
# on free, all of a record's 16 KiB output buffer per psa_aead_encrypt: that
# was the +15% CPU per keep-alive request of the first nettle build,
# docs/BENCHMARKS.md). The copies protect a PSA implementation from a caller
# that shares the buffers with an untrusted party (another process, across
# a trust boundary); here every buffer is this process's own memory.
# Upstream tests TLS in this configuration (all.sh:
# test_psa_assume_exclusive_buffers).
$cfg set MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS
# features mta-stsd never uses: smaller library, smaller attack surface
$cfg unset MBEDTLS_SSL_RENEGOTIATION
# (no debug callback is ever set, but with MBEDTLS_DEBUG_C every record still
# calls the debug functions: about 1,800 instructions per keep-alive request)
$cfg unset MBEDTLS_DEBUG_C
# curves: web PKI certificates and the key shares HTTPS clients offer use
# P-256, P-384, P-521, X25519 and X448 only; the others' code and
# precomputed tables cost about 190 KiB of binary (measured: 891 -> 704 KiB
# stripped with --gc-sections, docs/BENCHMARKS.md)
for c in SECP192R1 SECP224R1 SECP192K1 SECP224K1 SECP256K1 BP256R1 BP384R1 BP512R1; do
	$cfg unset MBEDTLS_ECP_DP_${c}_ENABLED
done
$cfg unset MBEDTLS_SSL_PROTO_DTLS
$cfg unset MBEDTLS_SSL_DTLS_ANTI_REPLAY
$cfg unset MBEDTLS_SSL_DTLS_HELLO_VERIFY
$cfg unset MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
$cfg unset MBEDTLS_SSL_DTLS_CONNECTION_ID
# thread-safe RNG and PSA state: reloads build snapshots on a thread of their own
$cfg set MBEDTLS_THREADING_C
$cfg set MBEDTLS_THREADING_PTHREAD
