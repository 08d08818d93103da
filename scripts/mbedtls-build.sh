#!/bin/sh
# Build an mbedTLS 3.6 source tree, already configured (scripts/mbedtls-config.sh),
# as static libraries with one section per function, for installing into PREFIX
# (`cmake --install BUILD_DIR` does that; the caller decides when).
#
# Usage: scripts/mbedtls-build.sh TREE BUILD_DIR PREFIX
# On failure prints the end of the build log and exits 1.
set -eu
tree=${1:?usage: mbedtls-build.sh TREE BUILD_DIR PREFIX}
build=${2:?usage: mbedtls-build.sh TREE BUILD_DIR PREFIX}
prefix=${3:?usage: mbedtls-build.sh TREE BUILD_DIR PREFIX}

cmake -S "$tree" -B "$build" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF \
	-DUSE_SHARED_MBEDTLS_LIBRARY=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON \
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DMBEDTLS_FATAL_WARNINGS=OFF \
	-DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" >/dev/null
if ! cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >"$build/build.log" 2>&1; then
	tail -n 30 "$build/build.log" >&2
	echo "mbedtls-build: building mbedTLS failed (log above)" >&2
	exit 1
fi
