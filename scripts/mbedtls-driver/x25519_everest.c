/*
 * mta-stsd's PSA accelerator driver for X25519 through Everest (see
 * x25519_everest.h).
 *
 * Why: in TLS 1.3 mbedTLS 3.6 makes the server's key share with
 * psa_generate_key (32 random bytes) and psa_export_public_key. The built-in
 * export computes the public key with ecp.c's Montgomery ladder on generic
 * bignums (1.2 ms on the benchmark machine), Everest's verified, constant-time
 * 64-bit Curve25519 in 0.18 ms. The key agreement already goes
 * through Everest with MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED (its ECDH
 * context picks Everest for Curve25519), so only the export is taken over.
 *
 * Written for mta-stsd (the project's terms apply); the Everest code it calls
 * is Apache-2.0 licensed.
 */
#include "x25519_everest.h"

#if defined(MTA_STSD_X25519_DRIVER_ENABLED)

#include "psa/crypto.h"
#include "mbedtls/platform_util.h"
#include "Hacl_Curve25519.h"
#include <string.h>

#define X25519_KEY_BYTES 32

/* RFC 7748, 4.1: the u-coordinate of Curve25519's base point, little-endian */
static const uint8_t x25519_base_point[X25519_KEY_BYTES] = { 9 };

/* X25519 public key of a Curve25519 key pair via Everest; NOT_SUPPORTED otherwise */
psa_status_t mtasts_x25519_transparent_export_public_key(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    uint8_t *data, size_t data_size, size_t *data_length)
{
    uint8_t secret[X25519_KEY_BYTES];
    uint8_t base[X25519_KEY_BYTES];

    /* only Curve25519 key pairs in PSA's export format (the 32-byte private
     * key as given to X25519: Everest clamps it as RFC 7748 says, which is
     * what the built-in code does when it reads the key); everything else,
     * including a buffer of the wrong length, is left to the built-in code
     * so that errors stay the same */
    if (psa_get_key_type(attributes) !=
        PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY) ||
        psa_get_key_bits(attributes) != 255 ||
        key_buffer_size != X25519_KEY_BYTES) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (data_size < X25519_KEY_BYTES) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }

    /* Everest's interface takes non-const pointers; it only reads them */
    memcpy(secret, key_buffer, X25519_KEY_BYTES);
    memcpy(base, x25519_base_point, X25519_KEY_BYTES);
    Hacl_Curve25519_crypto_scalarmult(data, secret, base);
    mbedtls_platform_zeroize(secret, sizeof(secret));
    *data_length = X25519_KEY_BYTES;
    return PSA_SUCCESS;
}

#endif /* MTA_STSD_X25519_DRIVER_ENABLED */
