/*
 * mta-stsd's PSA accelerator ("transparent") driver for X25519: the server's
 * X25519 public key (TLS 1.3 key share) computed by Everest's Curve25519
 * instead of ecp.c's generic Montgomery ladder. Built into libeverest.a by
 * scripts/mbedtls-driver/add-to-tree.sh; dispatched to by the PSA driver
 * wrappers generated from x25519_everest.json. Enabled by
 * MTA_STSD_X25519_DRIVER_ENABLED, which needs MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED.
 *
 * Written for mta-stsd (the project's terms apply); the Everest code it calls
 * is Apache-2.0 licensed.
 */
#ifndef MTA_STSD_X25519_EVEREST_H
#define MTA_STSD_X25519_EVEREST_H

#include "mbedtls/build_info.h"

#if defined(MTA_STSD_X25519_DRIVER_ENABLED)
#if !defined(MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED)
#error "MTA_STSD_X25519_DRIVER_ENABLED needs MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED"
#endif
#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif

#include "psa/crypto_types.h"
#include <stddef.h>
#include <stdint.h>

/* The public key (32 bytes, RFC 7748 u-coordinate) of an X25519 key pair
 * whose key buffer holds the 32-byte private key; PSA_ERROR_NOT_SUPPORTED for
 * any other key, so that the next driver or the built-in code handles it. */
psa_status_t mtasts_x25519_transparent_export_public_key(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    uint8_t *data, size_t data_size, size_t *data_length);

#endif /* MTA_STSD_X25519_DRIVER_ENABLED */
#endif /* MTA_STSD_X25519_EVEREST_H */
