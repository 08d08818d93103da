/* test_jose.c - base64url, JWK, RFC 7638 thumbprint, JWS (ES256, RS256), EAB, key authorization */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/rsa.h>
#include <psa/crypto.h>

#include "jose.h"

/* RFC 4648 section 10's vectors (no padding), and two in the url alphabet */
struct b64row {
	const char *in;
	size_t len;
	const char *want;
};

#define B64ROW(in, want) { in, sizeof(in) - 1, want }

static const struct b64row b64rows[] = {
	B64ROW("", ""),
	B64ROW("f", "Zg"),
	B64ROW("fo", "Zm8"),
	B64ROW("foo", "Zm9v"),
	B64ROW("foob", "Zm9vYg"),
	B64ROW("fooba", "Zm9vYmE"),
	B64ROW("foobar", "Zm9vYmFy"),
	B64ROW("\xfb\xff", "-_8"),		/* "+/8=" in standard base64 */
	B64ROW("\xff\xff\xfe", "___-"),
	B64ROW("\0\0\0\0", "AAAAAA"),
};

/* texts jose_b64url_decode must refuse */
static const char *const b64bad[] = {
	"Zg==",		/* padding */
	"Zg=",
	"Z",		/* one character: no whole byte */
	"Zm9vY",
	"Zh",		/* low bits of the last character not zero */
	"Zm9",		/* (one text per byte string: "Zm8" is canonical) */
	"Zm9v+",	/* standard alphabet */
	"Zm/v",
	"Zm 9v",	/* blanks */
	"Zm9v\n",
	"Zm9v.",
	"\xc3\xa9\xc3\xa9",
};

/* RFC 7638 section 3.1's RSA key and thumbprint */
static const char RFC7638_N[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char RFC7638_E[] = "AQAB";
static const char RFC7638_THUMBPRINT[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* keys made once for the whole run (RSA generation is slow) */
static mbedtls_pk_context ec_key, rsa_key, rfc_key;

static void
gen_ec(mbedtls_pk_context *pk, mbedtls_ecp_group_id grp)
{
	mbedtls_pk_init(pk);
	assert_int_equal(mbedtls_pk_setup(pk,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(grp, mbedtls_pk_ec(*pk),
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 0);
}

static int
setup(void **state)
{
	unsigned char n[512], e[8];
	size_t nlen, elen;

	(void)state;
	if (psa_crypto_init() != PSA_SUCCESS)
		return -1;
	gen_ec(&ec_key, MBEDTLS_ECP_DP_SECP256R1);
	mbedtls_pk_init(&rsa_key);
	if (mbedtls_pk_setup(&rsa_key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0 ||
	    mbedtls_rsa_gen_key(mbedtls_pk_rsa(rsa_key), mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE, 2048, 65537) != 0)
		return -1;
	/* the RFC's key: public only */
	mbedtls_pk_init(&rfc_key);
	if (jose_b64url_decode(RFC7638_N, n, sizeof(n), &nlen) != 0 ||
	    jose_b64url_decode(RFC7638_E, e, sizeof(e), &elen) != 0 ||
	    mbedtls_pk_setup(&rfc_key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0 ||
	    mbedtls_rsa_import_raw(mbedtls_pk_rsa(rfc_key), n, nlen, NULL, 0,
	    NULL, 0, NULL, 0, e, elen) != 0 ||
	    mbedtls_rsa_complete(mbedtls_pk_rsa(rfc_key)) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mbedtls_pk_free(&ec_key);
	mbedtls_pk_free(&rsa_key);
	mbedtls_pk_free(&rfc_key);
	mbedtls_psa_crypto_free();
	return 0;
}

static void
test_b64url_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64rows) / sizeof(b64rows[0]); i++) {
		const struct b64row *r = &b64rows[i];
		char out[32];
		unsigned char back[32];
		size_t n = jose_b64url(r->in, r->len, out, sizeof(out)), blen = 99;

		if (strcmp(out, r->want) != 0 || n != strlen(r->want))
			fail_msg("row %zu: encoded \"%s\" (%zu), want \"%s\"", i, out,
			    n, r->want);
		if (jose_b64url_decode(r->want, back, sizeof(back), &blen) != 0 ||
		    blen != r->len || memcmp(back, r->in, r->len) != 0)
			fail_msg("row %zu: \"%s\" did not decode back (%zu bytes)", i,
			    r->want, blen);
	}
}

static void
test_b64url_sizes(void **state)
{
	char out[16];
	unsigned char dec[8];
	size_t len;

	(void)state;
	/* "foobar" needs 8 characters and the NUL: 9 bytes */
	assert_int_equal(jose_b64url("foobar", 6, out, 9), 8);
	assert_string_equal(out, "Zm9vYmFy");
	memset(out, 'x', sizeof(out));
	assert_int_equal(jose_b64url("foobar", 6, out, 8), 0);
	assert_string_equal(out, "");
	assert_int_equal(jose_b64url("f", 1, out, 3), 2);
	assert_int_equal(jose_b64url("f", 1, out, 2), 0);
	/* decoding into too small a buffer is refused */
	assert_int_equal(jose_b64url_decode("Zm9vYmE", dec, 5, &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(jose_b64url_decode("Zm9vYmE", dec, 4, &len), -1);
	assert_int_equal(len, 0);
	assert_int_equal(jose_b64url_decode("", dec, 0, &len), 0);
	assert_int_equal(len, 0);
}

static void
test_b64url_decode_refuses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64bad) / sizeof(b64bad[0]); i++) {
		unsigned char out[16];
		size_t len = 99;

		if (jose_b64url_decode(b64bad[i], out, sizeof(out), &len) != -1 ||
		    len != 0)
			fail_msg("\"%s\" was decoded (%zu bytes); it is no unpadded "
			    "base64url", b64bad[i], len);
	}
	assert_true(jose_b64url_valid("abc-_09Z"));
	assert_false(jose_b64url_valid(""));
	assert_false(jose_b64url_valid("../x"));
	assert_false(jose_b64url_valid("ab="));
}

static void
test_rfc7638_thumbprint(void **state)
{
	char tp[JOSE_THUMBPRINT_SIZE], want[1024];
	char *jwk = jose_jwk(&rfc_key);

	(void)state;
	snprintf(want, sizeof(want), "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
	    RFC7638_E, RFC7638_N);
	assert_non_null(jwk);
	assert_string_equal(jwk, want);
	free(jwk);
	assert_int_equal(jose_thumbprint(&rfc_key, tp), 0);
	assert_string_equal(tp, RFC7638_THUMBPRINT);
	assert_string_equal(jose_alg(&rfc_key), "RS256");
}

/* the EC JWK's shape, and its x and y are the key's point */
static void
test_ec_jwk(void **state)
{
	unsigned char pt[65], x[40], y[40];
	char xs[64], ys[64], tail[8];
	size_t olen, xl, yl;
	char *jwk = jose_jwk(&ec_key);

	(void)state;
	assert_non_null(jwk);
	assert_int_equal(sscanf(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%63[A-Za-z0-9_-]\","
	    "\"y\":\"%63[A-Za-z0-9_-]%7s", xs, ys, tail), 3);
	assert_string_equal(tail, "\"}");
	assert_int_equal(strlen(xs), 43);
	assert_int_equal(strlen(ys), 43);
	assert_int_equal(jose_b64url_decode(xs, x, sizeof(x), &xl), 0);
	assert_int_equal(jose_b64url_decode(ys, y, sizeof(y), &yl), 0);
	assert_int_equal(xl, 32);
	assert_int_equal(yl, 32);
	assert_int_equal(mbedtls_ecp_write_public_key(mbedtls_pk_ec(ec_key),
	    MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, pt, sizeof(pt)), 0);
	assert_memory_equal(x, pt + 1, 32);
	assert_memory_equal(y, pt + 33, 32);
	assert_string_equal(jose_alg(&ec_key), "ES256");
	free(jwk);
}

static void
test_other_keys_refused(void **state)
{
	mbedtls_pk_context p384, none;
	char tp[JOSE_THUMBPRINT_SIZE];

	(void)state;
	gen_ec(&p384, MBEDTLS_ECP_DP_SECP384R1);
	mbedtls_pk_init(&none);
	assert_null(jose_alg(&p384));
	assert_null(jose_jwk(&p384));
	assert_int_equal(jose_thumbprint(&p384, tp), -1);
	assert_null(jose_sign(&p384, NULL, "n", "https://ca.test/x", "{}"));
	assert_null(jose_alg(&none));
	assert_null(jose_jwk(&none));
	assert_null(jose_sign(&none, "k", "n", "https://ca.test/x", "{}"));
	mbedtls_pk_free(&p384);
}

/* a flattened JWS taken apart: each member decoded, and the signing input */
struct jws {
	char prot[1024], payload[1024], sig[1024];	/* base64url */
	char header[2048], body[2048];			/* decoded */
	unsigned char sigbin[512];
	size_t sigbin_len;
	unsigned char hash[32];				/* SHA-256 of the signing input */
};

/* the JWS must be exactly {"protected":"..","payload":"..","signature":".."} */
static void
jws_split(const char *text, struct jws *j)
{
	char tail[8], input[2100];
	size_t n, hl;

	memset(j, 0, sizeof(*j));
	if (sscanf(text, "{\"protected\":\"%1023[A-Za-z0-9_-]\",\"payload\":\"%1023[A-Za-z0-9_-]\","
	    "\"signature\":\"%1023[A-Za-z0-9_-]%7s", j->prot, j->payload, j->sig, tail) != 4 &&
	    sscanf(text, "{\"protected\":\"%1023[A-Za-z0-9_-]\",\"payload\":\"\","
	    "\"signature\":\"%1023[A-Za-z0-9_-]%7s", j->prot, j->sig, tail) != 3)
		fail_msg("not a flattened JWS of the expected form: %s", text);
	assert_string_equal(tail, "\"}");
	assert_int_equal(jose_b64url_decode(j->prot, (unsigned char *)j->header,
	    sizeof(j->header) - 1, &n), 0);
	j->header[n] = '\0';
	assert_int_equal(jose_b64url_decode(j->payload, (unsigned char *)j->body,
	    sizeof(j->body) - 1, &n), 0);
	j->body[n] = '\0';
	assert_int_equal(jose_b64url_decode(j->sig, j->sigbin, sizeof(j->sigbin),
	    &j->sigbin_len), 0);
	snprintf(input, sizeof(input), "%s.%s", j->prot, j->payload);
	assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, (uint8_t *)input,
	    strlen(input), j->hash, sizeof(j->hash), &hl), PSA_SUCCESS);
}

/* verify an ES256 signature r || s over hash with the public key of pk */
static int
es256_verify(const mbedtls_pk_context *pk, const unsigned char *hash,
    const unsigned char *sig, size_t siglen)
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi d, r, s;
	int ret = -1;

	if (siglen != 64)
		return -1;
	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (mbedtls_ecp_export(mbedtls_pk_ec(*pk), &grp, &d, &q) == 0 &&
	    mbedtls_mpi_read_binary(&r, sig, 32) == 0 &&
	    mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0)
		ret = mbedtls_ecdsa_verify(&grp, hash, 32, &q, &r, &s);
	mbedtls_ecp_group_free(&grp);
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&d);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return ret == 0 ? 0 : -1;
}

/* verify an RS256 (PKCS#1 v1.5, SHA-256) signature */
static int
rs256_verify(const mbedtls_pk_context *pk, const unsigned char *hash,
    const unsigned char *sig, size_t siglen)
{
	if (siglen != mbedtls_pk_get_len(pk))
		return -1;
	return mbedtls_rsa_rsassa_pkcs1_v15_verify(mbedtls_pk_rsa(*pk),
	    MBEDTLS_MD_SHA256, 32, hash, sig) == 0 ? 0 : -1;
}

/* payload replaced by another (base64url) text: the signature must not fit */
static void
tamper_payload(struct jws *j, const char *other)
{
	char input[2100];
	size_t hl;

	jose_b64url(other, strlen(other), j->payload, sizeof(j->payload));
	snprintf(input, sizeof(input), "%s.%s", j->prot, j->payload);
	assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, (uint8_t *)input,
	    strlen(input), j->hash, sizeof(j->hash), &hl), PSA_SUCCESS);
}

static void
test_es256_jws_verifies(void **state)
{
	const char *payload = "{\"termsOfServiceAgreed\":true}";
	char want[1024], *jwk = jose_jwk(&ec_key);
	char *text = jose_sign(&ec_key, NULL, "nonce-1", "https://ca.test/new-acct",
	    payload);
	struct jws j;

	(void)state;
	assert_non_null(text);
	jws_split(text, &j);
	snprintf(want, sizeof(want), "{\"alg\":\"ES256\",\"jwk\":%s,\"nonce\":"
	    "\"nonce-1\",\"url\":\"https://ca.test/new-acct\"}", jwk);
	assert_string_equal(j.header, want);
	assert_string_equal(j.body, payload);
	assert_int_equal(j.sigbin_len, 64);	/* r || s, not DER */
	assert_int_equal(es256_verify(&ec_key, j.hash, j.sigbin, j.sigbin_len), 0);
	/* a changed payload, or a changed signature, fails */
	tamper_payload(&j, "{\"termsOfServiceAgreed\":false}");
	assert_int_equal(es256_verify(&ec_key, j.hash, j.sigbin, j.sigbin_len), -1);
	jws_split(text, &j);
	j.sigbin[10] ^= 1;
	assert_int_equal(es256_verify(&ec_key, j.hash, j.sigbin, j.sigbin_len), -1);
	free(text);
	free(jwk);
}

/* kid in the header instead of jwk; POST-as-GET; escaping in the header */
static void
test_es256_kid_and_post_as_get(void **state)
{
	char *text = jose_sign(&ec_key, "https://ca.test/acct/1", "n\"2",
	    "https://ca.test/order/\\1", NULL);
	struct jws j;

	(void)state;
	assert_non_null(text);
	jws_split(text, &j);
	assert_string_equal(j.header, "{\"alg\":\"ES256\",\"kid\":\"https://ca.test/acct/1\","
	    "\"nonce\":\"n\\\"2\",\"url\":\"https://ca.test/order/\\\\1\"}");
	assert_string_equal(j.payload, "");
	assert_int_equal(es256_verify(&ec_key, j.hash, j.sigbin, j.sigbin_len), 0);
	free(text);
	/* no nonce (a key change's inner JWS); no url: refused */
	text = jose_sign(&ec_key, "k", NULL, "https://ca.test/u", "");
	assert_non_null(text);
	jws_split(text, &j);
	assert_string_equal(j.header, "{\"alg\":\"ES256\",\"kid\":\"k\",\"url\":\"https://ca.test/u\"}");
	free(text);
	assert_null(jose_sign(&ec_key, "k", "n", NULL, ""));
}

static void
test_rs256_jws_verifies(void **state)
{
	const char *payload = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"mta-sts.example.com\"}]}";
	char *text = jose_sign(&rsa_key, "https://ca.test/acct/2", "nonce-3",
	    "https://ca.test/new-order", payload);
	struct jws j;

	(void)state;
	assert_non_null(text);
	jws_split(text, &j);
	assert_string_equal(j.header, "{\"alg\":\"RS256\",\"kid\":\"https://ca.test/acct/2\","
	    "\"nonce\":\"nonce-3\",\"url\":\"https://ca.test/new-order\"}");
	assert_string_equal(j.body, payload);
	assert_int_equal(j.sigbin_len, 256);
	assert_int_equal(rs256_verify(&rsa_key, j.hash, j.sigbin, j.sigbin_len), 0);
	tamper_payload(&j, "{\"identifiers\":[]}");
	assert_int_equal(rs256_verify(&rsa_key, j.hash, j.sigbin, j.sigbin_len), -1);
	free(text);
	/* the RSA key's JWK in the header when there is no kid */
	text = jose_sign(&rsa_key, NULL, "n", "https://ca.test/new-acct", "{}");
	assert_non_null(text);
	jws_split(text, &j);
	assert_non_null(strstr(j.header, "\"jwk\":{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\""));
	assert_int_equal(rs256_verify(&rsa_key, j.hash, j.sigbin, j.sigbin_len), 0);
	free(text);
	/* a public key alone cannot sign */
	assert_null(jose_sign(&rfc_key, "k", "n", "https://ca.test/x", "{}"));
}

static void
test_eab_hs256(void **state)
{
	/* the key: bytes 0..31 */
	const char *keytext = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
	unsigned char key[32], mac[32];
	char input[2100], *jwk = jose_jwk(&ec_key), *padded;
	char *text = jose_eab("kid-1", keytext, &ec_key, "https://ca.test/new-acct");
	struct jws j;

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	assert_non_null(text);
	jws_split(text, &j);
	assert_string_equal(j.header, "{\"alg\":\"HS256\",\"kid\":\"kid-1\","
	    "\"url\":\"https://ca.test/new-acct\"}");
	assert_string_equal(j.body, jwk);
	assert_int_equal(j.sigbin_len, 32);
	snprintf(input, sizeof(input), "%s.%s", j.prot, j.payload);
	assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    key, sizeof(key), (unsigned char *)input, strlen(input), mac), 0);
	assert_memory_equal(j.sigbin, mac, 32);
	/* padding tolerated: the same JWS (HMAC is deterministic) */
	padded = jose_eab("kid-1", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    &ec_key, "https://ca.test/new-acct");
	assert_non_null(padded);
	assert_string_equal(padded, text);
	free(padded);
	/* another key gives another MAC */
	padded = jose_eab("kid-1", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh4",
	    &ec_key, "https://ca.test/new-acct");
	assert_non_null(padded);
	assert_string_not_equal(padded, text);
	free(padded);
	/* a key that is no base64url, or empty, is refused */
	assert_null(jose_eab("kid-1", "AAEC+wQF", &ec_key, "https://ca.test/x"));
	assert_null(jose_eab("kid-1", "", &ec_key, "https://ca.test/x"));
	assert_null(jose_eab("kid-1", "==", &ec_key, "https://ca.test/x"));
	free(text);
	free(jwk);
}

static void
test_key_authorization(void **state)
{
	const char *token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
	char want[128], tp[JOSE_THUMBPRINT_SIZE];
	char *ka = jose_key_authorization(token, &rfc_key);

	(void)state;
	snprintf(want, sizeof(want), "%s.%s", token, RFC7638_THUMBPRINT);
	assert_non_null(ka);
	assert_string_equal(ka, want);
	free(ka);
	ka = jose_key_authorization("tok", &ec_key);
	assert_int_equal(jose_thumbprint(&ec_key, tp), 0);
	snprintf(want, sizeof(want), "tok.%s", tp);
	assert_string_equal(ka, want);
	free(ka);
	/* a token that is no base64url would be a path in the storage directory */
	assert_null(jose_key_authorization("../../etc/passwd", &ec_key));
	assert_null(jose_key_authorization("a/b", &ec_key));
	assert_null(jose_key_authorization("", &ec_key));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_sizes),
		cmocka_unit_test(test_b64url_decode_refuses),
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_ec_jwk),
		cmocka_unit_test(test_other_keys_refused),
		cmocka_unit_test(test_es256_jws_verifies),
		cmocka_unit_test(test_es256_kid_and_post_as_get),
		cmocka_unit_test(test_rs256_jws_verifies),
		cmocka_unit_test(test_eab_hs256),
		cmocka_unit_test(test_key_authorization),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
