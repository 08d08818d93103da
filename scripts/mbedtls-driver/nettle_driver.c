/*
 * mta-stsd's PSA accelerator driver on nettle (see nettle_driver.h).
 *
 * Why: a TLS handshake signs once with the server's ECDSA P-256 key; mbedTLS
 * 3.6 does it with ecp.c on generic bignums (about 255 us on the benchmark
 * machine), nettle 3.8 with its secp256r1 code in about 43 us. Loading a
 * certificate checks the key pair (mbedtls_pk_check_pair computes the public
 * key: one fixed-base scalar multiplication), nettle's ecc_point_mul_g does
 * that too. mbedTLS routes ECDSA signing and the key-pair check through PSA
 * only with MBEDTLS_USE_PSA_CRYPTO, which scripts/mbedtls-config.sh sets with
 * this driver; it also unsets MBEDTLS_ECDSA_DETERMINISTIC, so that the pk
 * layer asks PSA for randomized ECDSA (PSA_ALG_ECDSA), the one this driver
 * implements (k drawn from PSA's random generator; deterministic ECDSA
 * would need RFC 6979's k, which nettle does not compute).
 *
 * Key material: the private scalar is converted to nettle's limbs (four
 * 64-bit words, on the stack) for each operation and wiped afterwards, as
 * are the nonce and nettle's scratch. Only nettle's low-level interface is
 * used (ecc_point_mul_g on caller-owned limbs, ecc_ecdsa_sign with our own
 * nonce), never GMP's mpz functions: those would link GMP's general
 * multiplication, division and conversion code, about 45 KiB of a binary
 * that is resident in full (docs/BENCHMARKS.md, idle memory).
 *
 * Memory: GMP (hence nettle) aborts the process when an allocation fails.
 * Every allocation nettle and GMP make during a call of this driver is
 * served from a per-thread arena instead (GMP's memory functions are
 * replaced once; outside the driver they call GMP's own), so a driver call
 * never allocates from the heap and cannot abort; the arena is wiped when
 * the call ends (nettle leaves its scratch, which holds secrets, unwiped).
 *
 * Written for mta-stsd (the project's terms apply).
 */
#include "nettle_driver.h"

#if defined(MTA_STSD_NETTLE_DRIVER_ENABLED)

#include "psa/crypto.h"
#include "mbedtls/platform_util.h"

#include <gmp.h>
#include <nettle/chacha-poly1305.h>
#include <nettle/curve25519.h>
#include <nettle/ecc.h>
#include <nettle/ecc-curve.h>
#include <nettle/ecdsa.h>
#include <nettle/gcm.h>
#include <nettle/memops.h>
#include <pthread.h>
#include <string.h>

#define P256_BYTES 32
#define P256_LIMBS ((8 * P256_BYTES + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS)

/* the per-thread arena: far more than a call takes (only X25519 allocates,
 * 352 bytes; the unit test checks the high-water mark); beyond it, GMP's
 * own allocator. Every thread has one (static TLS), hence small. */
#define ARENA_BYTES 1024
static _Thread_local unsigned char arena_buf[ARENA_BYTES]
__attribute__((aligned(16)));
static _Thread_local size_t arena_used, arena_high;
static _Thread_local int arena_active;
static void *(*gmp_default_alloc)(size_t);
static void *(*gmp_default_realloc)(void *, size_t, size_t);
static void (*gmp_default_free)(void *, size_t);
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static int in_arena(const void *p)
{
    const unsigned char *c = p;

    return c >= arena_buf && c < arena_buf + ARENA_BYTES;
}

static void *arena_alloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t) 15;

    if (arena_active && need <= ARENA_BYTES - arena_used) {
        void *p = arena_buf + arena_used;

        arena_used += need;
        if (arena_used > arena_high) {
            arena_high = arena_used;
        }
        return p;
    }
    return gmp_default_alloc(n);
}

static void *arena_realloc(void *p, size_t old, size_t n)
{
    void *q;

    if (!in_arena(p)) {
        return gmp_default_realloc(p, old, n);
    }
    q = arena_alloc(n);
    memcpy(q, p, old < n ? old : n);
    return q;
}

static void arena_free(void *p, size_t n)
{
    if (!in_arena(p)) {
        gmp_default_free(p, n);
    }
}

static void install_hooks(void)
{
    mp_get_memory_functions(&gmp_default_alloc, &gmp_default_realloc,
                            &gmp_default_free);
    mp_set_memory_functions(arena_alloc, arena_realloc, arena_free);
}

/* a driver call begins: nettle's and GMP's allocations from the arena */
static void arena_enter(void)
{
    pthread_once(&hooks_once, install_hooks);
    arena_used = 0;
    arena_active = 1;
}

/* ... and ends: everything it allocated was freed (our clears); wipe it */
static void arena_leave(void)
{
    mbedtls_platform_zeroize(arena_buf, arena_used);
    arena_used = 0;
    arena_active = 0;
}

/* the most of the arena one call has used in this thread (for the tests) */
size_t mtasts_nettle_arena_high(void);
size_t mtasts_nettle_arena_high(void)
{
    return arena_high;
}

/*
 * GMP's mpn_mul_n and mpn_sqr, for the operand sizes nettle's elliptic
 * curves use (4 limbs for P-256 and Curve25519), defined here so that GMP's
 * own are not linked. GMP's choose by size between the basecase
 * (schoolbook) code and Toom-Cook and FFT multiplication, and linking them
 * links all of those: about 100 KiB of code that never runs at nettle's
 * sizes, in a binary whose text is resident in full (docs/BENCHMARKS.md,
 * idle memory). GMP's own call the same basecase functions (exported by
 * libgmp, declared in its internal gmp-impl.h) up to 27 (mul) and 33 (sqr)
 * limbs (Debian 12's libgmp.a: objdump of mul_n.o and sqr.o), so nettle
 * computes exactly as before, with one call less. mpn_mul_basecase is
 * correct for any size; squaring larger operands, which nettle never does,
 * goes through it too. Checked against mbedTLS's bignum code for 1 to 40
 * limbs in tests/unit/test_nettle_driver.c.
 */
#define MTASTS_SQR_BASECASE_MAX 16
void __gmpn_mul_basecase(mp_ptr rp, mp_srcptr ap, mp_size_t an,
                         mp_srcptr bp, mp_size_t bn);
void __gmpn_sqr_basecase(mp_ptr rp, mp_srcptr ap, mp_size_t n);

/* {rp, 2n} = {ap, n} * {bp, n} (GMP's mpn_mul_n, for nettle) */
void __gmpn_mul_n(mp_ptr rp, mp_srcptr ap, mp_srcptr bp, mp_size_t n);
void __gmpn_mul_n(mp_ptr rp, mp_srcptr ap, mp_srcptr bp, mp_size_t n)
{
    __gmpn_mul_basecase(rp, ap, n, bp, n);
}

/* {rp, 2n} = {ap, n}^2 (GMP's mpn_sqr, for nettle) */
void __gmpn_sqr(mp_ptr rp, mp_srcptr ap, mp_size_t n);
void __gmpn_sqr(mp_ptr rp, mp_srcptr ap, mp_size_t n)
{
    if (n <= MTASTS_SQR_BASECASE_MAX) {
        __gmpn_sqr_basecase(rp, ap, n);
    } else {
        __gmpn_mul_basecase(rp, ap, n, ap, n);
    }
}

/* the order n of secp256r1's base point (SEC 2, 2.4.2), big-endian */
static const uint8_t p256_order[P256_BYTES] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
    0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* a P-256 key pair in PSA's format: the 32-byte private scalar */
static int is_p256_key_pair(const psa_key_attributes_t *attributes,
                            size_t key_size)
{
    return psa_get_key_type(attributes) ==
           PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1) &&
           psa_get_key_bits(attributes) == 256 && key_size == P256_BYTES;
}

/* 1 if 0 < d < n, without branches on d's bytes */
static int p256_scalar_in_range(const uint8_t d[P256_BYTES])
{
    unsigned borrow = 0, nonzero = 0;

    for (int i = P256_BYTES - 1; i >= 0; i--) {
        unsigned diff = (unsigned) d[i] - p256_order[i] - borrow;
        borrow = (diff >> 8) & 1;
        nonzero |= d[i];
    }
    return borrow == 1 && nonzero != 0;
}

/* big-endian bytes (len = 8 * n / GMP_NUMB_BITS) as n limbs, least
 * significant first: shifts only, no branch on the bytes */
static void be_to_limbs(mp_limb_t *l, size_t n, const uint8_t *be, size_t len)
{
    memset(l, 0, n * sizeof(*l));
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        l[bit / GMP_NUMB_BITS] |= (mp_limb_t) be[i] << (bit % GMP_NUMB_BITS);
    }
}

/* n limbs as len big-endian bytes (the value is below 2^(8 len)) */
static void limbs_to_be(uint8_t *be, size_t len, const mp_limb_t *l)
{
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        be[i] = (uint8_t) (l[bit / GMP_NUMB_BITS] >> (bit % GMP_NUMB_BITS));
    }
}

/* Imports a P-256 key pair after checking its range (driver entry point) */
psa_status_t mtasts_nettle_transparent_import_key(
    const psa_key_attributes_t *attributes,
    const uint8_t *data, size_t data_length,
    uint8_t *key_buffer, size_t key_buffer_size,
    size_t *key_buffer_length, size_t *bits)
{
    size_t want_bits = psa_get_key_bits(attributes);

    /* bits 0: the caller lets the data say; 32 bytes on SECP_R1 is P-256 */
    if (psa_get_key_type(attributes) !=
        PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1) ||
        (want_bits != 0 && want_bits != 256) || data_length != P256_BYTES) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (!p256_scalar_in_range(data)) {
        return PSA_ERROR_INVALID_ARGUMENT;
    }
    if (key_buffer_size < P256_BYTES) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    memcpy(key_buffer, data, P256_BYTES);
    *key_buffer_length = P256_BYTES;
    *bits = 256;
    return PSA_SUCCESS;
}

/* an X25519 key pair in PSA's format: the 32-byte private key (RFC 7748) */
static int is_x25519_key_pair(const psa_key_attributes_t *attributes,
                              size_t key_size)
{
    return psa_get_key_type(attributes) ==
           PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY) &&
           psa_get_key_bits(attributes) == 255 && key_size == CURVE25519_SIZE;
}

/* The public key of a P-256 or X25519 key pair via nettle (driver entry point) */
psa_status_t mtasts_nettle_transparent_export_public_key(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    uint8_t *data, size_t data_size, size_t *data_length)
{
    /* nettle's low-level interface on our own limbs (the structs' fields
     * are public in <nettle/ecc.h>): no mpz, so that GMP's general
     * multiplication and conversion code is not linked (docs/BENCHMARKS.md,
     * idle memory) */
    mp_limb_t d[P256_LIMBS], xy[2 * P256_LIMBS];
    struct ecc_scalar s = { nettle_get_secp_256r1(), d };
    struct ecc_point q = { nettle_get_secp_256r1(), xy };

    if (is_x25519_key_pair(attributes, key_buffer_size)) {
        if (data_size < CURVE25519_SIZE) {
            return PSA_ERROR_BUFFER_TOO_SMALL;
        }
        /* nettle clamps the scalar as RFC 7748 says (bits 0-2 and 255
         * cleared, 254 set), as the built-in code does on reading it */
        arena_enter();
        curve25519_mul_g(data, key_buffer);
        arena_leave();
        *data_length = CURVE25519_SIZE;
        return PSA_SUCCESS;
    }
    if (!is_p256_key_pair(attributes, key_buffer_size)) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (data_size < 1 + 2 * P256_BYTES) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    if (!p256_scalar_in_range(key_buffer)) {
        return PSA_ERROR_INVALID_ARGUMENT;
    }
    be_to_limbs(d, P256_LIMBS, key_buffer, P256_BYTES);
    arena_enter();
    ecc_point_mul_g(&q, &s);		/* affine x, then y */
    arena_leave();
    mbedtls_platform_zeroize(d, sizeof(d));
    data[0] = 0x04;		/* SEC 1 uncompressed point */
    limbs_to_be(data + 1, P256_BYTES, xy);
    limbs_to_be(data + 1 + P256_BYTES, P256_BYTES, xy + P256_LIMBS);
    *data_length = 1 + 2 * P256_BYTES;
    return PSA_SUCCESS;
}

/* scratch for ecc_ecdsa_sign on P-256 (nettle 3.8 needs 11 * 4 limbs; room
 * for later versions: more than that would leave P-256 to ecp.c, which
 * test_sign_verify_loop would notice) */
#define P256_SIGN_SCRATCH 128
/* attempts at drawing a nonce 0 < k < n: each fails with probability
 * about 2^-32 (n is just below 2^256), or when r or s comes out 0 */
#define P256_NONCE_TRIES 16

/* A randomized ECDSA P-256 signature via nettle (driver entry point) */
psa_status_t mtasts_nettle_transparent_sign_hash(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg, const uint8_t *hash, size_t hash_length,
    uint8_t *signature, size_t signature_size, size_t *signature_length)
{
    const struct ecc_curve *curve = nettle_get_secp_256r1();
    mp_limb_t d[P256_LIMBS], k[P256_LIMBS], r[P256_LIMBS], s[P256_LIMBS];
    mp_limb_t scratch[P256_SIGN_SCRATCH];
    uint8_t kb[P256_BYTES];
    psa_status_t status = PSA_ERROR_INSUFFICIENT_ENTROPY;

    if (!is_p256_key_pair(attributes, key_buffer_size) ||
        !PSA_ALG_IS_RANDOMIZED_ECDSA(alg) ||
        ecc_ecdsa_sign_itch(curve) > P256_SIGN_SCRATCH) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (signature_size < 2 * P256_BYTES) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    if (!p256_scalar_in_range(key_buffer)) {
        return PSA_ERROR_INVALID_ARGUMENT;
    }
    be_to_limbs(d, P256_LIMBS, key_buffer, P256_BYTES);
    arena_enter();
    /* k from PSA's CTR_DRBG, drawn again until 0 < k < n (as nettle's
     * ecdsa_sign does with its random function); the attempts show in the
     * timing, the k used does not */
    for (int tries = 0; tries < P256_NONCE_TRIES; tries++) {
        int r_zero = 1, s_zero = 1;

        status = psa_generate_random(kb, sizeof(kb));
        if (status != PSA_SUCCESS) {
            break;
        }
        if (!p256_scalar_in_range(kb)) {
            status = PSA_ERROR_INSUFFICIENT_ENTROPY;
            continue;
        }
        be_to_limbs(k, P256_LIMBS, kb, P256_BYTES);
        ecc_ecdsa_sign(curve, d, k, hash_length, hash, r, s, scratch);
        for (size_t i = 0; i < P256_LIMBS; i++) {
            r_zero &= r[i] == 0;
            s_zero &= s[i] == 0;
        }
        if (!r_zero && !s_zero) {
            status = PSA_SUCCESS;
            break;
        }
        status = PSA_ERROR_INSUFFICIENT_ENTROPY;
    }
    arena_leave();
    mbedtls_platform_zeroize(d, sizeof(d));
    mbedtls_platform_zeroize(k, sizeof(k));
    mbedtls_platform_zeroize(kb, sizeof(kb));
    mbedtls_platform_zeroize(scratch, sizeof(scratch));
    if (status != PSA_SUCCESS) {
        return status;
    }
    limbs_to_be(signature, P256_BYTES, r);
    limbs_to_be(signature + P256_BYTES, P256_BYTES, s);
    *signature_length = 2 * P256_BYTES;
    return PSA_SUCCESS;
}

/* X25519 (RFC 7748) via nettle (driver entry point) */
psa_status_t mtasts_nettle_transparent_key_agreement(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg, const uint8_t *peer_key, size_t peer_key_length,
    uint8_t *shared_secret, size_t shared_secret_size,
    size_t *shared_secret_length)
{
    uint8_t zero = 0;

    if (alg != PSA_ALG_ECDH || !is_x25519_key_pair(attributes, key_buffer_size) ||
        peer_key_length != CURVE25519_SIZE) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (shared_secret_size < CURVE25519_SIZE) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    /* nettle ignores the peer's bit 255 and clamps our scalar (RFC 7748, 5) */
    arena_enter();
    curve25519_mul(shared_secret, key_buffer, peer_key);
    arena_leave();
    /* an all-zero result means a small-order peer point: refused, as the
     * built-in code does (RFC 7748, 6.1; RFC 8446, 7.4.2) */
    for (size_t i = 0; i < CURVE25519_SIZE; i++) {
        zero |= shared_secret[i];
    }
    if (zero == 0) {
        mbedtls_platform_zeroize(shared_secret, CURVE25519_SIZE);
        return PSA_ERROR_INVALID_ARGUMENT;
    }
    *shared_secret_length = CURVE25519_SIZE;
    return PSA_SUCCESS;
}

/*
 * AEAD: AES-GCM (128- and 256-bit keys) and ChaCha20-Poly1305, one-shot, with
 * a 12-byte nonce and a 16-byte tag: what TLS encrypts every record with.
 * With MBEDTLS_USE_PSA_CRYPTO each record is one psa_aead_encrypt or
 * psa_aead_decrypt call, and a transparent driver gets the key's bytes on
 * every call (no key context lives between calls), so the key schedule is
 * made per record: with nettle (AES-NI and PCLMUL where the CPU has them)
 * that and the record take a fraction of the built-in GCM's time (measured
 * in docs/BENCHMARKS.md). The contexts, which hold the key schedule, are
 * wiped before returning. In-place operation (ciphertext == plaintext, as
 * TLS does) is allowed by nettle's GCM and ChaCha20-Poly1305.
 */
#define AEAD_NONCE 12
#define AEAD_TAG 16
/* nettle's GCM takes at most 2^36 - 32 bytes of text (GCM's limit);
 * ChaCha20-Poly1305's 32-bit block counter allows 2^38 - 64. A TLS record
 * is at most 2^14 + 256: anything near either limit is left to the
 * built-in code, which checks it. */
#define AEAD_MAX_TEXT ((size_t)1 << 32)

enum aead_kind { AEAD_NONE, AEAD_GCM128, AEAD_GCM256, AEAD_CHACHAPOLY };

/* which of our AEADs a key and algorithm are, or AEAD_NONE */
static enum aead_kind aead_kind(const psa_key_attributes_t *attributes,
                                size_t key_size, psa_algorithm_t alg,
                                size_t nonce_length)
{
    psa_key_type_t type = psa_get_key_type(attributes);

    if (nonce_length != AEAD_NONCE) {
        return AEAD_NONE;
    }
    if (alg == PSA_ALG_GCM && type == PSA_KEY_TYPE_AES) {
        return key_size == 16 ? AEAD_GCM128 :
               key_size == 32 ? AEAD_GCM256 : AEAD_NONE;
    }
    if (alg == PSA_ALG_CHACHA20_POLY1305 && type == PSA_KEY_TYPE_CHACHA20 &&
        key_size == CHACHA_POLY1305_KEY_SIZE) {
        return AEAD_CHACHAPOLY;
    }
    return AEAD_NONE;
}

union aead_ctx {
    struct gcm_aes128_ctx gcm128;
    struct gcm_aes256_ctx gcm256;
    struct chacha_poly1305_ctx chachapoly;
};

/* set the key and nonce, and take the additional data */
static void aead_start(union aead_ctx *c, enum aead_kind kind,
                       const uint8_t *key, const uint8_t *nonce,
                       const uint8_t *ad, size_t ad_length)
{
    switch (kind) {
        case AEAD_GCM128:
            gcm_aes128_set_key(&c->gcm128, key);
            gcm_aes128_set_iv(&c->gcm128, AEAD_NONCE, nonce);
            gcm_aes128_update(&c->gcm128, ad_length, ad);
            break;
        case AEAD_GCM256:
            gcm_aes256_set_key(&c->gcm256, key);
            gcm_aes256_set_iv(&c->gcm256, AEAD_NONCE, nonce);
            gcm_aes256_update(&c->gcm256, ad_length, ad);
            break;
        default:
            chacha_poly1305_set_key(&c->chachapoly, key);
            chacha_poly1305_set_nonce(&c->chachapoly, nonce);
            chacha_poly1305_update(&c->chachapoly, ad_length, ad);
            break;
    }
}

/* encrypt (or decrypt) length bytes, then the tag of what was seen */
static void aead_finish(union aead_ctx *c, enum aead_kind kind, int encrypt,
                        size_t length, uint8_t *dst, const uint8_t *src,
                        uint8_t tag[AEAD_TAG])
{
    switch (kind) {
        case AEAD_GCM128:
            (encrypt ? gcm_aes128_encrypt :
             gcm_aes128_decrypt)(&c->gcm128, length, dst, src);
            gcm_aes128_digest(&c->gcm128, AEAD_TAG, tag);
            break;
        case AEAD_GCM256:
            (encrypt ? gcm_aes256_encrypt :
             gcm_aes256_decrypt)(&c->gcm256, length, dst, src);
            gcm_aes256_digest(&c->gcm256, AEAD_TAG, tag);
            break;
        default:
            (encrypt ? chacha_poly1305_encrypt :
             chacha_poly1305_decrypt)(&c->chachapoly, length, dst, src);
            chacha_poly1305_digest(&c->chachapoly, AEAD_TAG, tag);
            break;
    }
}

/* the bytes of c that kind uses */
static size_t aead_ctx_size(enum aead_kind kind)
{
    return kind == AEAD_GCM128 ? sizeof(struct gcm_aes128_ctx) :
           kind == AEAD_GCM256 ? sizeof(struct gcm_aes256_ctx) :
           sizeof(struct chacha_poly1305_ctx);
}

/* AES-GCM or ChaCha20-Poly1305 encryption via nettle (driver entry point) */
psa_status_t mtasts_nettle_transparent_aead_encrypt(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg,
    const uint8_t *nonce, size_t nonce_length,
    const uint8_t *additional_data, size_t additional_data_length,
    const uint8_t *plaintext, size_t plaintext_length,
    uint8_t *ciphertext, size_t ciphertext_size, size_t *ciphertext_length)
{
    enum aead_kind kind = aead_kind(attributes, key_buffer_size, alg,
                                    nonce_length);
    union aead_ctx c;

    if (kind == AEAD_NONE || plaintext_length > AEAD_MAX_TEXT) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (ciphertext_size < plaintext_length + AEAD_TAG) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    aead_start(&c, kind, key_buffer, nonce, additional_data,
               additional_data_length);
    aead_finish(&c, kind, 1, plaintext_length, ciphertext, plaintext,
                ciphertext + plaintext_length);
    mbedtls_platform_zeroize(&c, aead_ctx_size(kind));
    *ciphertext_length = plaintext_length + AEAD_TAG;
    return PSA_SUCCESS;
}

/* AES-GCM or ChaCha20-Poly1305 decryption via nettle (driver entry point) */
psa_status_t mtasts_nettle_transparent_aead_decrypt(
    const psa_key_attributes_t *attributes,
    const uint8_t *key_buffer, size_t key_buffer_size,
    psa_algorithm_t alg,
    const uint8_t *nonce, size_t nonce_length,
    const uint8_t *additional_data, size_t additional_data_length,
    const uint8_t *ciphertext, size_t ciphertext_length,
    uint8_t *plaintext, size_t plaintext_size, size_t *plaintext_length)
{
    enum aead_kind kind = aead_kind(attributes, key_buffer_size, alg,
                                    nonce_length);
    uint8_t tag[AEAD_TAG];
    union aead_ctx c;
    size_t length;
    int ok;

    if (kind == AEAD_NONE || ciphertext_length > AEAD_MAX_TEXT) {
        return PSA_ERROR_NOT_SUPPORTED;
    }
    if (ciphertext_length < AEAD_TAG) {
        return PSA_ERROR_INVALID_ARGUMENT;	/* as the built-in code says */
    }
    length = ciphertext_length - AEAD_TAG;
    if (plaintext_size < length) {
        return PSA_ERROR_BUFFER_TOO_SMALL;
    }
    aead_start(&c, kind, key_buffer, nonce, additional_data,
               additional_data_length);
    /* in place, the tag after the text is not overwritten (plaintext
     * ends where it begins); the PSA core wipes the output on failure */
    aead_finish(&c, kind, 0, length, plaintext, ciphertext, tag);
    ok = memeql_sec(tag, ciphertext + length, AEAD_TAG);
    mbedtls_platform_zeroize(&c, aead_ctx_size(kind));
    mbedtls_platform_zeroize(tag, sizeof(tag));
    if (!ok) {
        return PSA_ERROR_INVALID_SIGNATURE;
    }
    *plaintext_length = length;
    return PSA_SUCCESS;
}

#endif /* MTA_STSD_NETTLE_DRIVER_ENABLED */
