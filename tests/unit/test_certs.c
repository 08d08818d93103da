/* test_certs.c - certs_load's private keys: held in PSA's key store once per
 * certificate (not imported for every signature), signing what TLS 1.2 and
 * 1.3 ask for, gone from the key store when the certificate is freed */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "certs.h"
#include "diag.h"

/* with MBEDTLS_USE_PSA_CRYPTO (the nettle build) certs_load moves the key
 * into PSA's key store; without it mbedTLS signs with the parsed key and
 * no PSA key is involved */
#if defined(MBEDTLS_USE_PSA_CRYPTO)
#define HELD 1
#else
#define HELD 0
#endif

/* every psa_import_key the libraries make (the link wraps it) */
psa_status_t __real_psa_import_key(const psa_key_attributes_t *,
    const uint8_t *, size_t, mbedtls_svc_key_id_t *);
psa_status_t __wrap_psa_import_key(const psa_key_attributes_t *,
    const uint8_t *, size_t, mbedtls_svc_key_id_t *);
static unsigned imports;

psa_status_t
__wrap_psa_import_key(const psa_key_attributes_t *at, const uint8_t *data,
    size_t len, mbedtls_svc_key_id_t *id)
{
	imports++;
	return __real_psa_import_key(at, data, len, id);
}

static char dir[] = "/tmp/test_certs.XXXXXX";
static char ec_crt[64], ec_key[64], rsa_crt[64], rsa_key[64], other_key[64];

static void
write_file(const char *path, const unsigned char *pem)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs((const char *)pem, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* a new key of the type, written as PEM to key_path, and if crt_path is not
 * NULL a self-signed certificate of it for mta-sts.example.test */
static void
make_pair(mbedtls_pk_type_t type, const char *crt_path, const char *key_path)
{
	static unsigned char pem[16384];
	mbedtls_pk_context pk;
	mbedtls_x509write_cert crt;
	mbedtls_x509_san_list san;
	const unsigned char serial[] = { 1 };

	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(type)), 0);
	if (type == MBEDTLS_PK_RSA)
		assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk),
		    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE, 2048, 65537), 0);
	else
		assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		    mbedtls_pk_ec(pk), mbedtls_psa_get_random,
		    MBEDTLS_PSA_RANDOM_STATE), 0);
	assert_int_equal(mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)), 0);
	write_file(key_path, pem);
	if (crt_path != NULL) {
		mbedtls_x509write_crt_init(&crt);
		mbedtls_x509write_crt_set_subject_key(&crt, &pk);
		mbedtls_x509write_crt_set_issuer_key(&crt, &pk);
		assert_int_equal(mbedtls_x509write_crt_set_subject_name(&crt,
		    "CN=mta-sts.example.test"), 0);
		assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&crt,
		    "CN=mta-sts.example.test"), 0);
		assert_int_equal(mbedtls_x509write_crt_set_serial_raw(&crt,
		    (unsigned char *)serial, sizeof(serial)), 0);
		assert_int_equal(mbedtls_x509write_crt_set_validity(&crt,
		    "20250101000000", "20991231235959"), 0);
		mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
		memset(&san, 0, sizeof(san));
		san.node.type = MBEDTLS_X509_SAN_DNS_NAME;
		san.node.san.unstructured_name.p = (unsigned char *)"mta-sts.example.test";
		san.node.san.unstructured_name.len = strlen("mta-sts.example.test");
		assert_int_equal(mbedtls_x509write_crt_set_subject_alternative_name(
		    &crt, &san), 0);
		assert_int_equal(mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem),
		    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 0);
		write_file(crt_path, pem);
		mbedtls_x509write_crt_free(&crt);
	}
	mbedtls_pk_free(&pk);
}

static int
setup(void **state)
{
	(void)state;
	if (psa_crypto_init() != PSA_SUCCESS || mkdtemp(dir) == NULL)
		return -1;
	snprintf(ec_crt, sizeof(ec_crt), "%s/ec.pem", dir);
	snprintf(ec_key, sizeof(ec_key), "%s/ec.key", dir);
	snprintf(rsa_crt, sizeof(rsa_crt), "%s/rsa.pem", dir);
	snprintf(rsa_key, sizeof(rsa_key), "%s/rsa.key", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	make_pair(MBEDTLS_PK_ECKEY, ec_crt, ec_key);
	make_pair(MBEDTLS_PK_RSA, rsa_crt, rsa_key);
	make_pair(MBEDTLS_PK_ECKEY, NULL, other_key);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(ec_crt);
	unlink(ec_key);
	unlink(rsa_crt);
	unlink(rsa_key);
	unlink(other_key);
	rmdir(dir);
	mbedtls_psa_crypto_free();
	return 0;
}

/* keys in PSA's key store (volatile ones: what certs_load makes) */
static size_t
psa_keys(void)
{
	mbedtls_psa_stats_t st;

	mbedtls_psa_get_stats(&st);
	return st.MBEDTLS_PRIVATE(volatile_slots);
}

static struct certkey *
load(const char *crt, const char *key)
{
	struct diag d = { 0 };
	struct certkey *ck = NULL;
	char why[512];

	if (certs_load(crt, key, &ck, &d) != 0)
		fail_msg("certs_load: %s", diag_join(&d, DIAG_ERROR, why, sizeof(why)));
	diag_clear(&d);
	return ck;
}

/* PSA key imports while signing (verifying imports the public key) */
static unsigned sign_imports;

/* sign a hash with md the way TLS does (pk_type: MBEDTLS_PK_RSASSA_PSS for
 * TLS 1.3's RSA, else what the key does) and check it with the
 * certificate's public key */
static void
sign_and_verify(struct certkey *ck, mbedtls_pk_type_t pk_type,
    mbedtls_md_type_t md, size_t hlen)
{
	unsigned char h[64], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	mbedtls_pk_rsassa_pss_options pss = { md, MBEDTLS_RSA_SALT_LEN_ANY };
	unsigned before = imports;
	size_t slen;

	assert_int_equal(psa_generate_random(h, hlen), PSA_SUCCESS);
	assert_int_equal(mbedtls_pk_sign_ext(pk_type, &ck->key, md, h, hlen, sig,
	    sizeof(sig), &slen, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE),
	    0);
	sign_imports += imports - before;
	assert_int_equal(mbedtls_pk_verify_ext(pk_type,
	    pk_type == MBEDTLS_PK_RSASSA_PSS ? &pss : NULL, &ck->chain.pk, md, h,
	    hlen, sig, slen), 0);
	h[0] ^= 1;
	assert_int_not_equal(mbedtls_pk_verify_ext(pk_type,
	    pk_type == MBEDTLS_PK_RSASSA_PSS ? &pss : NULL, &ck->chain.pk, md, h,
	    hlen, sig, slen), 0);
}

/* an ECDSA P-256 key: one key in PSA's store per certificate, held from the
 * load to the free; 20 signatures (TLS 1.3's SHA-256, TLS 1.2's SHA-384
 * too) import nothing */
static void
test_ec_key_imported_once(void **state)
{
	size_t keys0 = psa_keys();
	struct certkey *ck;
	unsigned before;

	(void)state;
	ck = load(ec_crt, ec_key);
	assert_int_equal(ck->is_ec, 1);
	before = sign_imports;
	for (int i = 0; i < 20; i++)
		sign_and_verify(ck, MBEDTLS_PK_ECDSA, i % 2 ? MBEDTLS_MD_SHA384 :
		    MBEDTLS_MD_SHA256, i % 2 ? 48 : 32);
	assert_int_equal(sign_imports - before, 0);
	assert_int_equal(mbedtls_pk_get_type(&ck->key), HELD ?
	    MBEDTLS_PK_OPAQUE : MBEDTLS_PK_ECKEY);
	assert_int_equal(psa_keys(), keys0 + HELD);
	certs_unref(ck);
	assert_int_equal(psa_keys(), keys0);
}

/* an RSA key: PKCS#1 v1.5 (TLS 1.2's ECDHE-RSA) and PSS (TLS 1.3) both
 * sign with the one imported key */
static void
test_rsa_key_imported_once(void **state)
{
	size_t keys0 = psa_keys();
	struct certkey *ck;
	unsigned before;

	(void)state;
	ck = load(rsa_crt, rsa_key);
	assert_int_equal(ck->is_ec, 0);
	before = sign_imports;
	for (int i = 0; i < 4; i++) {
		sign_and_verify(ck, MBEDTLS_PK_RSA, MBEDTLS_MD_SHA256, 32);
		sign_and_verify(ck, MBEDTLS_PK_RSASSA_PSS, i % 2 ?
		    MBEDTLS_MD_SHA384 : MBEDTLS_MD_SHA256, i % 2 ? 48 : 32);
	}
	assert_int_equal(sign_imports - before, 0);
	assert_int_equal(mbedtls_pk_get_type(&ck->key), HELD ?
	    MBEDTLS_PK_OPAQUE : MBEDTLS_PK_RSA);
	assert_int_equal(psa_keys(), keys0 + HELD);
	certs_unref(ck);
	assert_int_equal(psa_keys(), keys0);
}

/* a key that is not the certificate's is refused before anything goes
 * into the key store; a certificate shared by references is freed (and
 * its key destroyed) only with the last one */
static void
test_mismatch_and_references(void **state)
{
	size_t keys0 = psa_keys();
	struct diag d = { 0 };
	struct certkey *ck = NULL;
	char why[512];

	(void)state;
	assert_int_equal(certs_load(ec_crt, other_key, &ck, &d), -1);
	assert_null(ck);
	assert_non_null(strstr(diag_join(&d, DIAG_ERROR, why, sizeof(why)),
	    "does not match"));
	diag_clear(&d);
	assert_int_equal(psa_keys(), keys0);

	ck = load(ec_crt, ec_key);
	certs_ref(ck);
	certs_unref(ck);
	assert_int_equal(psa_keys(), keys0 + HELD);
	sign_and_verify(ck, MBEDTLS_PK_ECDSA, MBEDTLS_MD_SHA256, 32);
	certs_unref(ck);
	assert_int_equal(psa_keys(), keys0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec_key_imported_once),
		cmocka_unit_test(test_rsa_key_imported_once),
		cmocka_unit_test(test_mismatch_and_references),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
