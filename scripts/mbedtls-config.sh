#!/bin/sh
# Apply mta-stsd's build options to an mbedTLS 3.6 source tree (argument: the tree).
# Kept apart from fetch-mbedtls.sh so that the options are easy to read and change.
set -eu
tree=$1
cfg="python3 $tree/scripts/config.py -f $tree/include/mbedtls/mbedtls_config.h"
# speed: fixed-point comb multiplication for the ECDSA/ECDHE base point (default on;
# stated here so a change of upstream default does not silently slow handshakes)
$cfg set MBEDTLS_ECP_FIXED_POINT_OPTIM 1
# features mta-stsd never uses: smaller library, smaller attack surface
$cfg unset MBEDTLS_SSL_PROTO_DTLS
$cfg unset MBEDTLS_SSL_DTLS_ANTI_REPLAY
$cfg unset MBEDTLS_SSL_DTLS_HELLO_VERIFY
$cfg unset MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
$cfg unset MBEDTLS_SSL_DTLS_CONNECTION_ID
# thread-safe RNG and PSA state: reloads build snapshots on a thread of their own
$cfg set MBEDTLS_THREADING_C
$cfg set MBEDTLS_THREADING_PTHREAD
