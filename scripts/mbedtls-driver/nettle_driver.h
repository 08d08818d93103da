/*
 * mta-stsd's PSA accelerator ("transparent") driver on nettle (libhogweed):
 * ECDSA P-256 signatures (randomized, k from the PSA random generator), the
 * P-256 public key of a key pair (what mbedtls_pk_check_pair and key
 * parsing compute), and P-256 key pair import (a range check instead of
 * ecp.c's group set-up), with nettle's constant-time secp256r1 code instead
 * of ecp.c's generic bignums; and X25519 (the TLS key share's public key
 * and the key agreement) with nettle's curve25519_mul_g / curve25519_mul
 * instead of Everest; and the AEADs TLS records are encrypted with (AES-GCM,
 * ChaCha20-Poly1305) with nettle's, which use AES-NI and PCLMUL where the
 * CPU has them. Built into libmtastsd-nettle.a by
 * scripts/mbedtls-driver/add-to-tree.sh; dispatched to by the PSA driver
 * wrappers generated from nettle_driver.json (import, export of the public
 * key) and by the lines add-to-tree.sh adds to the wrappers' template
 * (sign_hash, key_agreement, aead_encrypt and aead_decrypt, which mbedTLS 3.6
 * does not generate from driver descriptions).
 * Enabled by MTA_STSD_NETTLE_DRIVER_ENABLED (scripts/mbedtls-config.sh sets
 * it where pkg-config finds hogweed).
 *
 * Written for mta-stsd (the project's terms apply); nettle is LGPL-3.0+ or
 * GPL-2.0+ (the Makefile links it statically: NETTLE_LIBS).
 */
#ifndef MTA_STSD_NETTLE_DRIVER_H
#define MTA_STSD_NETTLE_DRIVER_H

#include "mbedtls/build_info.h"

#if defined(MTA_STSD_NETTLE_DRIVER_ENABLED)
#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif

#include "psa/crypto_types.h"
#include <stddef.h>
#include <stdint.h>

/* Imports a P-256 key pair (32-byte big-endian private scalar, 0 < d < n)
 * into key_buffer unchanged; PSA_ERROR_INVALID_ARGUMENT for a scalar out of
 * range; PSA_ERROR_NOT_SUPPORTED for any other key, so that the built-in code
 * handles it. */
psa_status_t mtasts_nettle_transparent_import_key(
    const psa_key_attributes_t *attributes,
    const uint8_t *data, size_t data_length,
    uint8_t *key_buffer, size_t key_buffer_size,
    size_t *key_buffer_length, size_t *bits);

/* The public key of a P-256 key pair (0x04 || X || Y, 65 bytes) or of an
 * X25519 key pair (32 bytes, RFC 7748), computed with nettle;
 * PSA_ERROR_NOT_SUPPORTED for any other key. */
psa_status_t mtasts_nettle_transparent_export_public_key(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    uint8_t *data, size_t data_size, size_t *data_length);

/* A randomized ECDSA signature (r || s, 64 bytes) of hash with a P-256 key
 * pair, k drawn from psa_generate_random; PSA_ERROR_NOT_SUPPORTED for any
 * other key or algorithm (deterministic ECDSA included). */
psa_status_t mtasts_nettle_transparent_sign_hash(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
    uint8_t *signature, size_t signature_size, size_t *signature_length);

/* The X25519 shared secret (32 bytes) of an X25519 key pair and a peer's
 * 32-byte public key; PSA_ERROR_INVALID_ARGUMENT when it is all zero (a
 * small-order peer point); PSA_ERROR_NOT_SUPPORTED for any other key or
 * algorithm. */
psa_status_t mtasts_nettle_transparent_key_agreement(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg, const uint8_t *peer_key, size_t peer_key_length,
    uint8_t *shared_secret, size_t shared_secret_size,
    size_t *shared_secret_length);

/* AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305 encryption of plaintext
 * with a 12-byte nonce: the ciphertext, then the 16-byte tag (in place when
 * ciphertext == plaintext); PSA_ERROR_NOT_SUPPORTED for any other key,
 * algorithm (a shortened tag included) or nonce length. */
psa_status_t mtasts_nettle_transparent_aead_encrypt(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg,
    const uint8_t *nonce, size_t nonce_length,
    const uint8_t *additional_data, size_t additional_data_length,
    const uint8_t *plaintext, size_t plaintext_length,
    uint8_t *ciphertext, size_t ciphertext_size, size_t *ciphertext_length);

/* The decryption of what mtasts_nettle_transparent_aead_encrypt makes;
 * PSA_ERROR_INVALID_SIGNATURE when the tag does not match (the tag is
 * compared in constant time; the PSA core wipes the output). */
psa_status_t mtasts_nettle_transparent_aead_decrypt(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg,
    const uint8_t *nonce, size_t nonce_length,
    const uint8_t *additional_data, size_t additional_data_length,
    const uint8_t *ciphertext, size_t ciphertext_length,
    uint8_t *plaintext, size_t plaintext_size, size_t *plaintext_length);

#endif /* MTA_STSD_NETTLE_DRIVER_ENABLED */
#endif /* MTA_STSD_NETTLE_DRIVER_H */
