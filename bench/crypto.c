/* bench/crypto.c - one handshake's elliptic-curve operations, N times each,
 * for instruction counts under callgrind (bench/crypto.sh) and wall-clock
 * microseconds per operation on a quiet core.
 *
 * Usage: bench_crypto OP N
 *   p256-sign-psa    psa_sign_hash, randomized ECDSA P-256, key imported once
 *   p256-sign-pk     mbedtls_pk_sign of a parsed-style EC key (TLS's path:
 *                    with MBEDTLS_USE_PSA_CRYPTO the key is imported per call)
 *   p256-sign-ecp    mbedtls_ecdsa_sign on ecp.c (no driver)
 *   p256-pub-psa     psa_export_public_key of a P-256 key pair
 *   p256-pub-ecp     mbedtls_ecp_mul of the base point (ecp.c)
 *   p256-check-pair  mbedtls_pk_check_pair (what every certificate load does)
 *   x25519-keygen    psa_generate_key + psa_export_public_key (TLS 1.3's share)
 *   x25519-agree     psa_raw_key_agreement
 *   x25519-everest   Everest's Hacl_Curve25519_crypto_scalarmult, direct
 *   x25519-nettle-g  nettle's curve25519_mul_g, direct (if built with nettle)
 *   x25519-nettle    nettle's curve25519_mul, direct (if built with nettle)
 *   none             set-up only (subtract it)
 * Prints the wall-clock microseconds per operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <psa/crypto.h>
#if defined(MTA_STSD_NETTLE_DRIVER_ENABLED)
#include <nettle/curve25519.h>
#endif

/* Everest's entry point (libeverest.a; its header is not installed) */
void Hacl_Curve25519_crypto_scalarmult(uint8_t *out, uint8_t *secret,
    uint8_t *point);

static int
fail(const char *what, long v)
{
	fprintf(stderr, "bench_crypto: %s failed (%ld)\n", what, v);
	exit(1);
}

static psa_key_id_t
new_key(psa_key_type_t type, size_t bits, psa_algorithm_t alg)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id;
	psa_status_t st;

	psa_set_key_type(&at, type);
	psa_set_key_bits(&at, bits);
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH |
	    PSA_KEY_USAGE_EXPORT | PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&at, alg);
	if ((st = psa_generate_key(&at, &id)) != PSA_SUCCESS)
		fail("psa_generate_key", st);
	return id;
}

int
main(int argc, char **argv)
{
	const psa_key_type_t p256 =
	    PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1);
	const psa_key_type_t x25519 =
	    PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY);
	uint8_t hash[32] = { 1, 2, 3 }, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	uint8_t out[65], peer[32], secret[32], base[32] = { 9 };
	mbedtls_pk_context pk, pub;
	mbedtls_ecp_keypair *ec;
	mbedtls_ecp_point q;
	psa_key_id_t key = 0;
	struct timespec t0, t1;
	const char *op;
	size_t len;
	long n;
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_crypto OP N\n");
		return 2;
	}
	op = argv[1];
	n = atol(argv[2]);
	if (psa_crypto_init() != PSA_SUCCESS)
		fail("psa_crypto_init", 0);
	mbedtls_pk_init(&pk);
	mbedtls_pk_init(&pub);
	mbedtls_ecp_point_init(&q);
	if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)))
		fail("pk_setup", 0);
	ec = mbedtls_pk_ec(pk);
	if ((ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, ec,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE)) != 0)
		fail("ecp_gen_key", ret);
	{
		uint8_t der[200];
		int l = mbedtls_pk_write_pubkey_der(&pk, der, sizeof(der));

		if (l <= 0 || mbedtls_pk_parse_public_key(&pub,
		    der + sizeof(der) - l, (size_t)l) != 0)
			fail("public key", l);
	}
	if (strncmp(op, "p256-", 5) == 0 && strstr(op, "psa") != NULL)
		key = new_key(p256, 256, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
	if (strncmp(op, "x25519-", 7) == 0)
		key = new_key(x25519, 255, PSA_ALG_ECDH);
	psa_generate_random(peer, sizeof(peer));
	psa_generate_random(secret, sizeof(secret));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		psa_status_t st = PSA_SUCCESS;

		ret = 0;
		if (strcmp(op, "p256-sign-psa") == 0) {
			st = psa_sign_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash,
			    32, sig, sizeof(sig), &len);
		} else if (strcmp(op, "p256-sign-pk") == 0) {
			ret = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, 32, sig,
			    sizeof(sig), &len, mbedtls_psa_get_random,
			    MBEDTLS_PSA_RANDOM_STATE);
		} else if (strcmp(op, "p256-sign-ecp") == 0) {
			mbedtls_mpi r, s;

			mbedtls_mpi_init(&r);
			mbedtls_mpi_init(&s);
			ret = mbedtls_ecdsa_sign(&ec->MBEDTLS_PRIVATE(grp), &r, &s,
			    &ec->MBEDTLS_PRIVATE(d), hash, 32, mbedtls_psa_get_random,
			    MBEDTLS_PSA_RANDOM_STATE);
			mbedtls_mpi_free(&r);
			mbedtls_mpi_free(&s);
		} else if (strcmp(op, "p256-pub-psa") == 0) {
			st = psa_export_public_key(key, out, sizeof(out), &len);
		} else if (strcmp(op, "p256-pub-ecp") == 0) {
			ret = mbedtls_ecp_mul(&ec->MBEDTLS_PRIVATE(grp), &q,
			    &ec->MBEDTLS_PRIVATE(d), &ec->MBEDTLS_PRIVATE(grp).G,
			    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
		} else if (strcmp(op, "p256-check-pair") == 0) {
			ret = mbedtls_pk_check_pair(&pub, &pk, mbedtls_psa_get_random,
			    MBEDTLS_PSA_RANDOM_STATE);
		} else if (strcmp(op, "x25519-keygen") == 0) {
			psa_key_id_t k = new_key(x25519, 255, PSA_ALG_ECDH);

			st = psa_export_public_key(k, out, sizeof(out), &len);
			psa_destroy_key(k);
		} else if (strcmp(op, "x25519-agree") == 0) {
			st = psa_raw_key_agreement(PSA_ALG_ECDH, key, peer, 32, out,
			    sizeof(out), &len);
		} else if (strcmp(op, "x25519-everest") == 0) {
			Hacl_Curve25519_crypto_scalarmult(out, secret, peer);
#if defined(MTA_STSD_NETTLE_DRIVER_ENABLED)
		} else if (strcmp(op, "x25519-nettle-g") == 0) {
			curve25519_mul_g(out, secret);
		} else if (strcmp(op, "x25519-nettle") == 0) {
			curve25519_mul(out, secret, peer);
#endif
		} else if (strcmp(op, "none") != 0) {
			fprintf(stderr, "bench_crypto: unknown OP %s\n", op);
			return 2;
		}
		if (st != PSA_SUCCESS || ret != 0)
			fail(op, st != PSA_SUCCESS ? (long)st : (long)ret);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	(void)base;
	printf("%s %.1f us\n", op, n ? ((t1.tv_sec - t0.tv_sec) * 1e6 +
	    (t1.tv_nsec - t0.tv_nsec) / 1e3) / (double)n : 0.0);
	mbedtls_ecp_point_free(&q);
	mbedtls_pk_free(&pk);
	mbedtls_pk_free(&pub);
	if (key)
		psa_destroy_key(key);
	mbedtls_psa_crypto_free();
	return 0;
}
