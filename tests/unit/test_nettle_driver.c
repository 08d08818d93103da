/* test_nettle_driver.c - the nettle PSA driver (scripts/mbedtls-driver/):
 * its signatures verified by mbedTLS, X25519 against Everest, AES-GCM and
 * ChaCha20-Poly1305 against mbedTLS's own, known answers, dispatch,
 * fall-backs */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <gmp.h>
#include <mbedtls/bignum.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <psa/crypto.h>

#if defined(MTA_STSD_NETTLE_DRIVER_ENABLED)

/* the build links this test with -Wl,--wrap for the driver's entry points:
 * the PSA core's calls come here first, so that the tests see that the
 * driver, not the built-in code, did the work */
psa_status_t __real_mtasts_nettle_transparent_sign_hash(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, uint8_t *, size_t, size_t *);
psa_status_t __wrap_mtasts_nettle_transparent_sign_hash(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, uint8_t *, size_t, size_t *);
psa_status_t __real_mtasts_nettle_transparent_export_public_key(
    const psa_key_attributes_t *, const uint8_t *, size_t, uint8_t *, size_t,
    size_t *);
psa_status_t __wrap_mtasts_nettle_transparent_export_public_key(
    const psa_key_attributes_t *, const uint8_t *, size_t, uint8_t *, size_t,
    size_t *);

psa_status_t __real_mtasts_nettle_transparent_key_agreement(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, uint8_t *, size_t, size_t *);
psa_status_t __wrap_mtasts_nettle_transparent_key_agreement(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, uint8_t *, size_t, size_t *);
psa_status_t __real_mtasts_nettle_transparent_aead_encrypt(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t,
    uint8_t *, size_t, size_t *);
psa_status_t __wrap_mtasts_nettle_transparent_aead_encrypt(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t,
    uint8_t *, size_t, size_t *);
psa_status_t __real_mtasts_nettle_transparent_aead_decrypt(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t,
    uint8_t *, size_t, size_t *);
psa_status_t __wrap_mtasts_nettle_transparent_aead_decrypt(
    const psa_key_attributes_t *, const uint8_t *, size_t, psa_algorithm_t,
    const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t,
    uint8_t *, size_t, size_t *);
/* calloc, as mbedTLS's static libraries call it (counted: the PSA core's
 * copies of a caller's buffers are allocated with it) */
void *__real_calloc(size_t, size_t);
void *__wrap_calloc(size_t, size_t);
/* Everest's X25519 (libeverest.a), the reference the tests compare with */
void Hacl_Curve25519_crypto_scalarmult(uint8_t *out, uint8_t *secret,
    uint8_t *point);

static unsigned signed_by_driver, exported_by_driver, agreed_by_driver;
static unsigned sealed_by_driver, opened_by_driver, callocs;

void *
__wrap_calloc(size_t n, size_t size)
{
	callocs++;
	return __real_calloc(n, size);
}

psa_status_t
__wrap_mtasts_nettle_transparent_aead_encrypt(const psa_key_attributes_t *a,
    const uint8_t *key, size_t key_size, psa_algorithm_t alg,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *ad, size_t ad_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
    size_t *out_len)
{
	psa_status_t st = __real_mtasts_nettle_transparent_aead_encrypt(a, key,
	    key_size, alg, nonce, nonce_len, ad, ad_len, in, in_len, out,
	    out_size, out_len);

	if (st == PSA_SUCCESS)
		sealed_by_driver++;
	return st;
}

psa_status_t
__wrap_mtasts_nettle_transparent_aead_decrypt(const psa_key_attributes_t *a,
    const uint8_t *key, size_t key_size, psa_algorithm_t alg,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *ad, size_t ad_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
    size_t *out_len)
{
	psa_status_t st = __real_mtasts_nettle_transparent_aead_decrypt(a, key,
	    key_size, alg, nonce, nonce_len, ad, ad_len, in, in_len, out,
	    out_size, out_len);

	if (st == PSA_SUCCESS || st == PSA_ERROR_INVALID_SIGNATURE)
		opened_by_driver++;
	return st;
}

/* the most of its per-thread arena one driver call has used */
size_t mtasts_nettle_arena_high(void);

psa_status_t
__wrap_mtasts_nettle_transparent_key_agreement(const psa_key_attributes_t *a,
    const uint8_t *key, size_t key_size, psa_algorithm_t alg,
    const uint8_t *peer, size_t peer_len, uint8_t *out, size_t out_size,
    size_t *out_len)
{
	psa_status_t st = __real_mtasts_nettle_transparent_key_agreement(a, key,
	    key_size, alg, peer, peer_len, out, out_size, out_len);

	if (st == PSA_SUCCESS)
		agreed_by_driver++;
	return st;
}

psa_status_t
__wrap_mtasts_nettle_transparent_sign_hash(const psa_key_attributes_t *a,
    const uint8_t *key, size_t key_size, psa_algorithm_t alg,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_size,
    size_t *sig_len)
{
	psa_status_t st = __real_mtasts_nettle_transparent_sign_hash(a, key,
	    key_size, alg, hash, hash_len, sig, sig_size, sig_len);

	if (st == PSA_SUCCESS)
		signed_by_driver++;
	return st;
}

psa_status_t
__wrap_mtasts_nettle_transparent_export_public_key(
    const psa_key_attributes_t *a, const uint8_t *key, size_t key_size,
    uint8_t *out, size_t out_size, size_t *out_len)
{
	psa_status_t st = __real_mtasts_nettle_transparent_export_public_key(a,
	    key, key_size, out, out_size, out_len);

	if (st == PSA_SUCCESS)
		exported_by_driver++;
	return st;
}

static void
unhex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* RFC 6979, A.2.5: the P-256 test key, its public key, and the signature
 * of "sample" with SHA-256 (deterministic k; any valid k verifies) */
#define RFC_D "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"
#define RFC_UX "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
#define RFC_UY "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
#define RFC_R "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
#define RFC_S "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
/* SEC 2, 2.4.2: secp256r1's base point G and order n */
#define P256_GX "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
#define P256_GY "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"
#define P256_N "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"
/* p - Gy: the y of -G = (n - 1) G */
#define P256_NEG_GY "B01CBD1C01E58065711814B583F061E9D431CCA994CEA1313449BF97C840AE0A"

static psa_key_id_t
import_pair(const uint8_t d[32], psa_algorithm_t alg, psa_status_t *st)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH |
	    PSA_KEY_USAGE_EXPORT);
	psa_set_key_algorithm(&at, alg);
	*st = psa_import_key(&at, d, 32, &id);
	return id;
}

static psa_key_id_t
import_public(const uint8_t *q, size_t len)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&at, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_VERIFY_HASH);
	psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_ANY_HASH));
	assert_int_equal(psa_import_key(&at, q, len, &id), PSA_SUCCESS);
	return id;
}

static void
hash_msg(psa_algorithm_t h, const uint8_t *msg, size_t len, uint8_t *out,
    size_t out_size, size_t *out_len)
{
	assert_int_equal(psa_hash_compute(h, msg, len, out, out_size, out_len),
	    PSA_SUCCESS);
}

static int
setup(void **state)
{
	(void)state;
	return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
}

/* RFC 6979's key: the driver computes its public key; the RFC's signature
 * verifies and tampered ones do not; the driver's own signature of the same
 * message verifies under the RFC's public key */
static void
test_rfc6979_p256(void **state)
{
	uint8_t d[32], q[65], got[65], r_s[64], h[64], sig[64];
	size_t qlen, hlen, slen;
	psa_key_id_t prv, pub;
	psa_status_t st;
	unsigned before;

	(void)state;
	unhex(RFC_D, d, 32);
	q[0] = 0x04;
	unhex(RFC_UX, q + 1, 32);
	unhex(RFC_UY, q + 33, 32);
	unhex(RFC_R, r_s, 32);
	unhex(RFC_S, r_s + 32, 32);

	prv = import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_SUCCESS);
	before = exported_by_driver;
	assert_int_equal(psa_export_public_key(prv, got, sizeof(got), &qlen),
	    PSA_SUCCESS);
	assert_int_equal(exported_by_driver, before + 1);
	assert_int_equal(qlen, 65);
	assert_memory_equal(got, q, 65);

	pub = import_public(q, 65);
	hash_msg(PSA_ALG_SHA_256, (const uint8_t *)"sample", 6, h, sizeof(h), &hlen);
	assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h,
	    hlen, r_s, 64), PSA_SUCCESS);
	for (size_t bit = 0; bit < 512; bit += 37) {
		uint8_t bad[64];

		memcpy(bad, r_s, 64);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(psa_verify_hash(pub,
		    PSA_ALG_ECDSA(PSA_ALG_SHA_256), h, hlen, bad, 64),
		    PSA_ERROR_INVALID_SIGNATURE);
	}
	h[0] ^= 1;
	assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h,
	    hlen, r_s, 64), PSA_ERROR_INVALID_SIGNATURE);
	h[0] ^= 1;

	before = signed_by_driver;
	assert_int_equal(psa_sign_hash(prv, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h,
	    hlen, sig, sizeof(sig), &slen), PSA_SUCCESS);
	assert_int_equal(signed_by_driver, before + 1);
	assert_int_equal(slen, 64);
	assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h,
	    hlen, sig, slen), PSA_SUCCESS);
	/* "sample" against "test": not the same signature */
	hash_msg(PSA_ALG_SHA_256, (const uint8_t *)"test", 4, h, sizeof(h), &hlen);
	assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h,
	    hlen, sig, slen), PSA_ERROR_INVALID_SIGNATURE);
	psa_destroy_key(prv);
	psa_destroy_key(pub);
}

/* d = 1 gives G, d = n - 1 gives -G; 0 and n are refused at import */
static void
test_scalar_range(void **state)
{
	uint8_t d[32], q[65], want[65];
	size_t qlen;
	psa_key_id_t id;
	psa_status_t st;

	(void)state;
	want[0] = 0x04;
	unhex(P256_GX, want + 1, 32);
	unhex(P256_GY, want + 33, 32);
	memset(d, 0, 32);
	d[31] = 1;
	id = import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_SUCCESS);
	assert_int_equal(psa_export_public_key(id, q, sizeof(q), &qlen),
	    PSA_SUCCESS);
	assert_memory_equal(q, want, 65);
	psa_destroy_key(id);

	unhex(P256_N, d, 32);
	d[31] -= 1;
	unhex(P256_NEG_GY, want + 33, 32);
	id = import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_SUCCESS);
	assert_int_equal(psa_export_public_key(id, q, sizeof(q), &qlen),
	    PSA_SUCCESS);
	assert_memory_equal(q, want, 65);
	psa_destroy_key(id);

	unhex(P256_N, d, 32);
	import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_ERROR_INVALID_ARGUMENT);
	d[0] = 0xff;
	d[31] = 0xff;
	import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_ERROR_INVALID_ARGUMENT);
	memset(d, 0, 32);
	import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_ERROR_INVALID_ARGUMENT);
}

/* the public key ecp.c computes for a private key, as PSA exports it */
static void
ecp_public(const uint8_t d[32], uint8_t q[65])
{
	mbedtls_ecp_keypair kp;
	size_t len;

	mbedtls_ecp_keypair_init(&kp);
	assert_int_equal(mbedtls_ecp_read_key(MBEDTLS_ECP_DP_SECP256R1, &kp, d,
	    32), 0);
	assert_int_equal(mbedtls_ecp_keypair_calc_public(&kp,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 0);
	assert_int_equal(mbedtls_ecp_write_public_key(&kp,
	    MBEDTLS_ECP_PF_UNCOMPRESSED, &len, q, 65), 0);
	assert_int_equal(len, 65);
	mbedtls_ecp_keypair_free(&kp);
}

#define LOOP_KEYS 40
#define LOOP_MSGS 25

/* many keys, many messages of many lengths, SHA-256 and SHA-384: every
 * signature the driver makes verifies with mbedTLS's own code (ecp.c),
 * under the public key the driver computed, which equals ecp.c's; a flipped
 * bit of the signature or of the hash fails; two signatures of one message
 * differ (k is random) */
static void
test_sign_verify_loop(void **state)
{
	unsigned before = signed_by_driver, n = 0;

	(void)state;
	for (int k = 0; k < LOOP_KEYS; k++) {
		psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
		uint8_t d[32], q[65], ref[65];
		size_t dlen, qlen;
		psa_key_id_t prv, pub;

		psa_set_key_type(&at,
		    PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
		psa_set_key_bits(&at, 256);
		psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH |
		    PSA_KEY_USAGE_EXPORT);
		psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_ANY_HASH));
		assert_int_equal(psa_generate_key(&at, &prv), PSA_SUCCESS);
		assert_int_equal(psa_export_key(prv, d, sizeof(d), &dlen),
		    PSA_SUCCESS);
		assert_int_equal(dlen, 32);
		assert_int_equal(psa_export_public_key(prv, q, sizeof(q), &qlen),
		    PSA_SUCCESS);
		ecp_public(d, ref);
		assert_memory_equal(q, ref, 65);
		pub = import_public(q, qlen);

		for (int m = 0; m < LOOP_MSGS; m++) {
			psa_algorithm_t h = m % 3 == 2 ? PSA_ALG_SHA_384 :
			    PSA_ALG_SHA_256;
			uint8_t msg[200], dig[64], sig[64], sig2[64];
			size_t mlen = (size_t)(m * 7 % 200), hlen, slen, slen2;

			assert_int_equal(psa_generate_random(msg, mlen ? mlen : 1),
			    PSA_SUCCESS);
			hash_msg(h, msg, mlen, dig, sizeof(dig), &hlen);
			assert_int_equal(psa_sign_hash(prv, PSA_ALG_ECDSA(h), dig,
			    hlen, sig, sizeof(sig), &slen), PSA_SUCCESS);
			assert_int_equal(slen, 64);
			assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(h), dig,
			    hlen, sig, slen), PSA_SUCCESS);
			sig[m % 64] ^= (uint8_t)(1u << (m % 8));
			assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(h), dig,
			    hlen, sig, slen), PSA_ERROR_INVALID_SIGNATURE);
			sig[m % 64] ^= (uint8_t)(1u << (m % 8));
			dig[m % 32] ^= 0x80;	/* within the 256 bits a P-256 signature covers */
			assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(h), dig,
			    hlen, sig, slen), PSA_ERROR_INVALID_SIGNATURE);
			dig[m % 32] ^= 0x80;	/* within the 256 bits a P-256 signature covers */
			assert_int_equal(psa_sign_hash(prv, PSA_ALG_ECDSA(h), dig,
			    hlen, sig2, sizeof(sig2), &slen2), PSA_SUCCESS);
			assert_memory_not_equal(sig, sig2, 32);
			n += 2;
		}
		psa_destroy_key(prv);
		psa_destroy_key(pub);
	}
	assert_int_equal(signed_by_driver - before, n);
}

/* the TLS path: a pk context (as certs.c loads keys) signs through PSA and
 * the driver, mbedtls_pk_verify accepts it, and mbedtls_pk_check_pair (the
 * check at every certificate load) tells the matching key from another */
static void
test_pk_layer(void **state)
{
	mbedtls_pk_context a, b, pub;
	uint8_t h[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], der[200];
	size_t slen, hlen;
	unsigned before;
	int len;

	(void)state;
	mbedtls_pk_init(&a);
	mbedtls_pk_init(&b);
	mbedtls_pk_init(&pub);
	assert_int_equal(mbedtls_pk_setup(&a,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(a), mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE),
	    0);
	assert_int_equal(mbedtls_pk_setup(&b,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(b), mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE),
	    0);
	len = mbedtls_pk_write_pubkey_der(&a, der, sizeof(der));
	assert_true(len > 0);
	assert_int_equal(mbedtls_pk_parse_public_key(&pub,
	    der + sizeof(der) - len, (size_t)len), 0);

	before = exported_by_driver;
	assert_int_equal(mbedtls_pk_check_pair(&pub, &a, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE), 0);
	assert_true(exported_by_driver > before);
	assert_int_not_equal(mbedtls_pk_check_pair(&pub, &b,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 0);

	hash_msg(PSA_ALG_SHA_256, (const uint8_t *)"mta-sts", 7, h, sizeof(h), &hlen);
	before = signed_by_driver;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(mbedtls_pk_sign(&a, MBEDTLS_MD_SHA256, h, hlen,
		    sig, sizeof(sig), &slen, mbedtls_psa_get_random,
		    MBEDTLS_PSA_RANDOM_STATE), 0);
		assert_int_equal(mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, h,
		    hlen, sig, slen), 0);
		h[i % 32] ^= 1;
		assert_int_not_equal(mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256,
		    h, hlen, sig, slen), 0);
		h[i % 32] ^= 1;
	}
	assert_int_equal(signed_by_driver - before, 20);
	mbedtls_pk_free(&a);
	mbedtls_pk_free(&b);
	mbedtls_pk_free(&pub);
}

/* what the driver leaves to the built-in code: P-384 keys (signed and
 * verified as before, not by the driver), deterministic ECDSA (not in this
 * build); a short output buffer is refused */
static void
test_fallbacks(void **state)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t h[48], sig[96], q[97];
	size_t hlen, slen, qlen;
	psa_key_id_t id, pub;
	psa_status_t st;
	unsigned before;

	(void)state;
	psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(&at, 384);
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
	psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_384));
	assert_int_equal(psa_generate_key(&at, &id), PSA_SUCCESS);
	hash_msg(PSA_ALG_SHA_384, (const uint8_t *)"x", 1, h, sizeof(h), &hlen);
	before = signed_by_driver;
	assert_int_equal(psa_sign_hash(id, PSA_ALG_ECDSA(PSA_ALG_SHA_384), h,
	    hlen, sig, sizeof(sig), &slen), PSA_SUCCESS);
	assert_int_equal(signed_by_driver, before);
	assert_int_equal(slen, 96);
	assert_int_equal(psa_export_public_key(id, q, sizeof(q), &qlen),
	    PSA_SUCCESS);
	psa_reset_key_attributes(&at);
	psa_set_key_type(&at,
	    PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_VERIFY_HASH);
	psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_384));
	assert_int_equal(psa_import_key(&at, q, qlen, &pub), PSA_SUCCESS);
	assert_int_equal(psa_verify_hash(pub, PSA_ALG_ECDSA(PSA_ALG_SHA_384), h,
	    hlen, sig, slen), PSA_SUCCESS);
	psa_destroy_key(id);
	psa_destroy_key(pub);

	unhex(RFC_D, h, 32);
	id = import_pair(h, PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_SUCCESS);
	st = psa_sign_hash(id, PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256), h,
	    32, sig, sizeof(sig), &slen);
	assert_int_not_equal(st, PSA_SUCCESS);
	psa_destroy_key(id);

	id = import_pair(h, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &st);
	assert_int_equal(st, PSA_SUCCESS);
	assert_int_equal(psa_sign_hash(id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), h,
	    32, sig, 63, &slen), PSA_ERROR_BUFFER_TOO_SMALL);
	psa_destroy_key(id);
}

static psa_key_id_t
import_x25519(const uint8_t k[32])
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&at,
	    PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_DERIVE |
	    PSA_KEY_USAGE_EXPORT);
	psa_set_key_algorithm(&at, PSA_ALG_ECDH);
	assert_int_equal(psa_import_key(&at, k, 32, &id), PSA_SUCCESS);
	return id;
}

/* RFC 7748, 6.1: both public keys and the shared secret, both ways */
static void
test_rfc7748_x25519(void **state)
{
	uint8_t a[32], b[32], pa[32], pb[32], k[32], got[32];
	size_t len;
	psa_key_id_t ia, ib;
	unsigned exp0 = exported_by_driver, agr0 = agreed_by_driver;

	(void)state;
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	    a, 32);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	    pa, 32);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	    b, 32);
	unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	    pb, 32);
	unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
	    k, 32);
	ia = import_x25519(a);
	ib = import_x25519(b);
	assert_int_equal(psa_export_public_key(ia, got, 32, &len), PSA_SUCCESS);
	assert_int_equal(len, 32);
	assert_memory_equal(got, pa, 32);
	assert_int_equal(psa_export_public_key(ib, got, 32, &len), PSA_SUCCESS);
	assert_memory_equal(got, pb, 32);
	assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ia, pb, 32, got, 32,
	    &len), PSA_SUCCESS);
	assert_int_equal(len, 32);
	assert_memory_equal(got, k, 32);
	assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ib, pa, 32, got, 32,
	    &len), PSA_SUCCESS);
	assert_memory_equal(got, k, 32);
	assert_int_equal(exported_by_driver - exp0, 2);
	assert_int_equal(agreed_by_driver - agr0, 2);

	/* small-order peer points (u = 0, u = 1) give 0: refused */
	memset(got, 0, 32);
	assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ia, got, 32, k,
	    32, &len), PSA_SUCCESS);
	got[0] = 1;
	assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ia, got, 32, k,
	    32, &len), PSA_SUCCESS);
	/* a short output buffer, a peer key of the wrong length */
	assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ia, pb, 32, got, 31,
	    &len), PSA_ERROR_BUFFER_TOO_SMALL);
	assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ia, pb, 31, got,
	    32, &len), PSA_SUCCESS);
	psa_destroy_key(ia);
	psa_destroy_key(ib);
}

/* random keys: nettle's public keys and shared secrets (through PSA) equal
 * Everest's, and both sides of each agreement agree */
static void
test_x25519_against_everest(void **state)
{
	(void)state;
	for (int i = 0; i < 200; i++) {
		uint8_t a[32], b[32], pa[32], pb[32], ref[32], s1[32], s2[32];
		uint8_t nine[32] = { 9 };
		size_t len;
		psa_key_id_t ia, ib;

		assert_int_equal(psa_generate_random(a, 32), PSA_SUCCESS);
		assert_int_equal(psa_generate_random(b, 32), PSA_SUCCESS);
		ia = import_x25519(a);
		ib = import_x25519(b);
		assert_int_equal(psa_export_public_key(ia, pa, 32, &len),
		    PSA_SUCCESS);
		assert_int_equal(psa_export_public_key(ib, pb, 32, &len),
		    PSA_SUCCESS);
		Hacl_Curve25519_crypto_scalarmult(ref, a, nine);
		assert_memory_equal(pa, ref, 32);
		pb[31] ^= (uint8_t)(i & 0x80);	/* bit 255: ignored by both */
		assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ia, pb, 32, s1,
		    32, &len), PSA_SUCCESS);
		Hacl_Curve25519_crypto_scalarmult(ref, a, pb);
		assert_memory_equal(s1, ref, 32);
		pb[31] ^= (uint8_t)(i & 0x80);
		assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, ib, pa, 32, s2,
		    32, &len), PSA_SUCCESS);
		assert_memory_equal(s1, s2, 32);
		psa_destroy_key(ia);
		psa_destroy_key(ib);
	}
}

static psa_key_id_t
import_aead(psa_key_type_t type, const uint8_t *k, size_t len,
    psa_algorithm_t alg)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&at, type);
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_ENCRYPT |
	    PSA_KEY_USAGE_DECRYPT);
	psa_set_key_algorithm(&at, alg);
	assert_int_equal(psa_import_key(&at, k, len, &id), PSA_SUCCESS);
	return id;
}

/* a known answer: encrypt (by the driver) gives ct || tag; decrypting it,
 * in place, gives pt back (by the driver); a flipped bit anywhere in it or
 * in the additional data fails with the output wiped */
static void
aead_known(psa_key_type_t type, const char *key, psa_algorithm_t alg,
    const char *nonce, const char *ad, const char *pt, const char *ct)
{
	uint8_t k[32], n[12], a[64], p[256], c[256 + 16], buf[256 + 16];
	size_t klen = strlen(key) / 2, alen = strlen(ad) / 2;
	size_t plen = strlen(pt) / 2, clen = strlen(ct) / 2, len;
	unsigned s0 = sealed_by_driver, o0 = opened_by_driver;
	psa_key_id_t id;

	unhex(key, k, klen);
	unhex(nonce, n, 12);
	unhex(ad, a, alen);
	unhex(pt, p, plen);
	unhex(ct, c, clen);
	assert_int_equal(clen, plen + 16);
	id = import_aead(type, k, klen, alg);
	assert_int_equal(psa_aead_encrypt(id, alg, n, 12, a, alen, p, plen, buf,
	    sizeof(buf), &len), PSA_SUCCESS);
	assert_int_equal(len, clen);
	assert_memory_equal(buf, c, clen);
	assert_int_equal(psa_aead_decrypt(id, alg, n, 12, a, alen, buf, clen,
	    buf, sizeof(buf), &len), PSA_SUCCESS);
	assert_int_equal(len, plen);
	if (plen > 0)
		assert_memory_equal(buf, p, plen);
	assert_int_equal(sealed_by_driver - s0, 1);
	assert_int_equal(opened_by_driver - o0, 1);
	for (size_t bit = 0; bit < 8 * (clen + alen); bit += 29) {
		uint8_t *at = bit / 8 < clen ? c + bit / 8 : a + bit / 8 - clen;

		*at ^= (uint8_t)(1u << (bit % 8));
		memcpy(buf, c, clen);
		assert_int_equal(psa_aead_decrypt(id, alg, n, 12, a, alen, buf,
		    clen, buf, sizeof(buf), &len), PSA_ERROR_INVALID_SIGNATURE);
		*at ^= (uint8_t)(1u << (bit % 8));
		for (size_t i = 0; i < plen; i++)
			assert_int_equal(buf[i], 0);
	}
	psa_destroy_key(id);
}

/* the GCM specification's test cases 3, 4, 13 and 16 (McGrew and Viega,
 * "The Galois/Counter Mode of Operation", 2005) and RFC 8439, 2.8.2 */
static void
test_aead_known_answers(void **state)
{
	const char *p4 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da"
	    "2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
	    "ba637b39";
	char p3[200];

	(void)state;
	snprintf(p3, sizeof(p3), "%s1aafd255", p4);
	aead_known(PSA_KEY_TYPE_AES, "feffe9928665731c6d6a8f9467308308",
	    PSA_ALG_GCM, "cafebabefacedbaddecaf888", "", p3,
	    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
	    "4d5c2af327cd64a62cf35abd2ba6fab4");
	aead_known(PSA_KEY_TYPE_AES, "feffe9928665731c6d6a8f9467308308",
	    PSA_ALG_GCM, "cafebabefacedbaddecaf888",
	    "feedfacedeadbeeffeedfacedeadbeefabaddad2", p4,
	    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
	    "5bc94fbc3221a5db94fae95ae7121a47");
	aead_known(PSA_KEY_TYPE_AES, "0000000000000000000000000000000000000000"
	    "000000000000000000000000", PSA_ALG_GCM, "000000000000000000000000",
	    "", "", "530f8afbc74536b9a963b4f1c4cb738b");
	aead_known(PSA_KEY_TYPE_AES, "feffe9928665731c6d6a8f9467308308"
	    "feffe9928665731c6d6a8f9467308308", PSA_ALG_GCM,
	    "cafebabefacedbaddecaf888",
	    "feedfacedeadbeeffeedfacedeadbeefabaddad2", p4,
	    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
	    "76fc6ece0f4e1768cddf8853bb2d551b");
	aead_known(PSA_KEY_TYPE_CHACHA20, "808182838485868788898a8b8c8d8e8f"
	    "909192939495969798999a9b9c9d9e9f", PSA_ALG_CHACHA20_POLY1305,
	    "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
	    "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
	    "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
	    "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
	    "637265656e20776f756c642062652069742e",
	    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	    "3ff4def08e4b7a9de576d26586cec64b6116"
	    "1ae10b594f09e26a7e902ecbd0600691");
}

/* mbedTLS's own GCM and ChaCha20-Poly1305 (the built-in code the driver
 * replaces), on the same key, nonce, additional data and text */
static void
aead_reference(int chacha, const uint8_t *k, size_t klen, const uint8_t *n,
    const uint8_t *a, size_t alen, const uint8_t *p, size_t plen, uint8_t *c)
{
	if (chacha) {
		mbedtls_chachapoly_context ctx;

		mbedtls_chachapoly_init(&ctx);
		assert_int_equal(mbedtls_chachapoly_setkey(&ctx, k), 0);
		assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(&ctx, plen, n,
		    a, alen, p, c, c + plen), 0);
		mbedtls_chachapoly_free(&ctx);
	} else {
		mbedtls_gcm_context ctx;

		mbedtls_gcm_init(&ctx);
		assert_int_equal(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, k,
		    (unsigned)(8 * klen)), 0);
		assert_int_equal(mbedtls_gcm_crypt_and_tag(&ctx, MBEDTLS_GCM_ENCRYPT,
		    plen, n, 12, a, alen, p, c, 16, c + plen), 0);
		mbedtls_gcm_free(&ctx);
	}
}

/* random keys, nonces, additional data (TLS 1.3 gives 5 bytes, TLS 1.2 13)
 * and texts of 0 to 1,100 bytes (across nettle's block and parallel
 * boundaries): the driver's ciphertext and tag equal mbedTLS's own, and
 * decrypting in place (as TLS does) gives the text back */
static void
test_aead_against_mbedtls(void **state)
{
	static uint8_t p[1100], c[1116], buf[1116];
	unsigned s0 = sealed_by_driver, o0 = opened_by_driver, n_ops = 0;

	(void)state;
	for (int i = 0; i < 300; i++) {
		int chacha = i % 3 == 2;
		size_t klen = chacha || i % 3 == 1 ? 32 : 16;
		size_t plen = (size_t)(i * 37 % 1101), alen = (size_t)(i % 5 ? 13 : 5);
		psa_algorithm_t alg = chacha ? PSA_ALG_CHACHA20_POLY1305 :
		    PSA_ALG_GCM;
		uint8_t k[32], n[12], a[13];
		size_t len;
		psa_key_id_t id;

		assert_int_equal(psa_generate_random(k, sizeof(k)), PSA_SUCCESS);
		assert_int_equal(psa_generate_random(n, sizeof(n)), PSA_SUCCESS);
		assert_int_equal(psa_generate_random(a, sizeof(a)), PSA_SUCCESS);
		assert_int_equal(psa_generate_random(p, sizeof(p)), PSA_SUCCESS);
		aead_reference(chacha, k, klen, n, a, alen, p, plen, c);
		id = import_aead(chacha ? PSA_KEY_TYPE_CHACHA20 : PSA_KEY_TYPE_AES,
		    k, klen, alg);
		memcpy(buf, p, plen);
		assert_int_equal(psa_aead_encrypt(id, alg, n, 12, a, alen, buf,
		    plen, buf, sizeof(buf), &len), PSA_SUCCESS);
		assert_int_equal(len, plen + 16);
		assert_memory_equal(buf, c, plen + 16);
		assert_int_equal(psa_aead_decrypt(id, alg, n, 12, a, alen, buf,
		    plen + 16, buf, sizeof(buf), &len), PSA_SUCCESS);
		assert_int_equal(len, plen);
		if (plen > 0)
			assert_memory_equal(buf, p, plen);
		psa_destroy_key(id);
		n_ops++;
	}
	assert_int_equal(sealed_by_driver - s0, n_ops);
	assert_int_equal(opened_by_driver - o0, n_ops);
}

/* a TLS record's encryption and decryption (a 16 KiB record buffer, in
 * place) allocate nothing: with mbedTLS 3.6's default the PSA core copied
 * every input and the whole output buffer to the heap for each call (and
 * wiped them on free), the per-record cost MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS
 * removes (scripts/mbedtls-config.sh) */
static void
test_aead_record_allocates_nothing(void **state)
{
	static uint8_t rec[16384 + 256];
	uint8_t k[32] = { 7 }, n[12] = { 1 }, a[13] = { 2 };
	psa_key_id_t id = import_aead(PSA_KEY_TYPE_AES, k, 32, PSA_ALG_GCM);
	unsigned before;
	size_t len;

	(void)state;
	memset(rec, 'x', 400);
	before = callocs;
	assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, n, 12, a, 13, rec,
	    400, rec, sizeof(rec), &len), PSA_SUCCESS);
	assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, n, 12, a, 13, rec,
	    len, rec, sizeof(rec), &len), PSA_SUCCESS);
	assert_int_equal(callocs - before, 0);
	assert_int_equal(len, 400);
	assert_int_equal(rec[399], 'x');
	psa_destroy_key(id);
}

/* what the driver leaves to the built-in code (AES-192, a shortened tag, a
 * nonce that is not 12 bytes) still works, not by the driver; a short
 * output buffer and a ciphertext shorter than its tag are refused */
static void
test_aead_fallbacks(void **state)
{
	const psa_algorithm_t tag12 =
	    PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, 12);
	uint8_t k[32] = { 3 }, n[16] = { 4 }, p[40] = { 5 }, c[60], back[40];
	unsigned s0 = sealed_by_driver, o0 = opened_by_driver;
	psa_key_id_t id;
	size_t len;

	(void)state;
	id = import_aead(PSA_KEY_TYPE_AES, k, 24, PSA_ALG_GCM);
	assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, n, 12, NULL, 0, p,
	    40, c, sizeof(c), &len), PSA_SUCCESS);
	assert_int_equal(len, 56);
	assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, n, 12, NULL, 0, c,
	    len, back, sizeof(back), &len), PSA_SUCCESS);
	assert_memory_equal(back, p, 40);
	psa_destroy_key(id);

	id = import_aead(PSA_KEY_TYPE_AES, k, 16, tag12);
	assert_int_equal(psa_aead_encrypt(id, tag12, n, 12, NULL, 0, p, 40, c,
	    sizeof(c), &len), PSA_SUCCESS);
	assert_int_equal(len, 52);
	assert_int_equal(psa_aead_decrypt(id, tag12, n, 12, NULL, 0, c, len,
	    back, sizeof(back), &len), PSA_SUCCESS);
	assert_memory_equal(back, p, 40);
	psa_destroy_key(id);

	id = import_aead(PSA_KEY_TYPE_AES, k, 16, PSA_ALG_GCM);
	assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, n, 16, NULL, 0, p,
	    40, c, sizeof(c), &len), PSA_SUCCESS);
	assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, n, 16, NULL, 0, c,
	    len, back, sizeof(back), &len), PSA_SUCCESS);
	assert_memory_equal(back, p, 40);
	assert_int_equal(sealed_by_driver, s0);
	assert_int_equal(opened_by_driver, o0);

	assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, n, 12, NULL, 0, p,
	    40, c, 55, &len), PSA_ERROR_BUFFER_TOO_SMALL);
	assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, n, 12, NULL, 0, p,
	    40, c, 56, &len), PSA_SUCCESS);
	assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, n, 12, NULL, 0, c,
	    56, back, 39, &len), PSA_ERROR_BUFFER_TOO_SMALL);
	assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, n, 12, NULL, 0, c,
	    15, back, sizeof(back), &len), PSA_ERROR_INVALID_ARGUMENT);
	psa_destroy_key(id);
}

/* limbs as little-endian bytes, and back (mbedTLS's bignum I/O) */
static void
limbs_le(const mp_limb_t *l, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n * sizeof(mp_limb_t); i++)
		out[i] = (uint8_t)(l[i / sizeof(mp_limb_t)] >>
		    (8 * (i % sizeof(mp_limb_t))));
}

/* GMP's mpn_mul_n and mpn_sqr, which nettle's curves multiply with and
 * which the driver defines itself (GMP's basecase code, without linking
 * Toom-Cook and FFT): random operands of 1 to 40 limbs, some all ones,
 * give mbedTLS's products */
static void
test_gmp_mul_sqr(void **state)
{
	enum { MAXN = 40 };
	mp_limb_t a[MAXN], b[MAXN], r[2 * MAXN], q[2 * MAXN];
	uint8_t ab[8 * MAXN], bb[8 * MAXN], rb[16 * MAXN], want[16 * MAXN];
	mbedtls_mpi A, B, C;

	(void)state;
	mbedtls_mpi_init(&A);
	mbedtls_mpi_init(&B);
	mbedtls_mpi_init(&C);
	for (mp_size_t n = 1; n <= MAXN; n++) {
		for (int rep = 0; rep < 6; rep++) {
			size_t len = (size_t)n * sizeof(mp_limb_t);

			assert_int_equal(psa_generate_random((uint8_t *)a,
			    sizeof(a)), PSA_SUCCESS);
			assert_int_equal(psa_generate_random((uint8_t *)b,
			    sizeof(b)), PSA_SUCCESS);
			if (rep == 0) {
				memset(a, 0xff, sizeof(a));
				memset(b, 0xff, sizeof(b));
			}
			mpn_mul_n(r, a, b, n);
			mpn_sqr(q, a, n);
			limbs_le(a, (size_t)n, ab);
			limbs_le(b, (size_t)n, bb);
			assert_int_equal(mbedtls_mpi_read_binary_le(&A, ab, len), 0);
			assert_int_equal(mbedtls_mpi_read_binary_le(&B, bb, len), 0);
			assert_int_equal(mbedtls_mpi_mul_mpi(&C, &A, &B), 0);
			assert_int_equal(mbedtls_mpi_write_binary_le(&C, want,
			    2 * len), 0);
			limbs_le(r, 2 * (size_t)n, rb);
			assert_memory_equal(rb, want, 2 * len);
			assert_int_equal(mbedtls_mpi_mul_mpi(&C, &A, &A), 0);
			assert_int_equal(mbedtls_mpi_write_binary_le(&C, want,
			    2 * len), 0);
			limbs_le(q, 2 * (size_t)n, rb);
			assert_memory_equal(rb, want, 2 * len);
		}
	}
	mbedtls_mpi_free(&A);
	mbedtls_mpi_free(&B);
	mbedtls_mpi_free(&C);
}

/* after the tests above (signatures, public keys, X25519): every driver
 * call fitted in the arena, so none took memory from the heap, where GMP
 * would abort the process on a failed allocation (the 1 KiB arena of
 * nettle_driver.c; a call takes well under half of it) */
static void
test_arena_big_enough(void **state)
{
	(void)state;
	print_message("arena high-water mark: %zu bytes\n",
	    mtasts_nettle_arena_high());
	assert_true(mtasts_nettle_arena_high() > 0);
	assert_true(mtasts_nettle_arena_high() <= 1024 / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6979_p256),
		cmocka_unit_test(test_rfc7748_x25519),
		cmocka_unit_test(test_x25519_against_everest),
		cmocka_unit_test(test_scalar_range),
		cmocka_unit_test(test_sign_verify_loop),
		cmocka_unit_test(test_pk_layer),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_aead_known_answers),
		cmocka_unit_test(test_aead_against_mbedtls),
		cmocka_unit_test(test_aead_record_allocates_nothing),
		cmocka_unit_test(test_aead_fallbacks),
		cmocka_unit_test(test_gmp_mul_sqr),
		cmocka_unit_test(test_arena_big_enough),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

#else /* !MTA_STSD_NETTLE_DRIVER_ENABLED */

static void
test_no_driver(void **state)
{
	(void)state;
	print_message("skipped: this mbedTLS build has no nettle driver "
	    "(MTA_STSD_NETTLE_DRIVER_ENABLED unset: NETTLE=no, no nettle-dev, "
	    "or the system's mbedTLS)\n");
	skip();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_driver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
