/* test_x509gen.c - keys, key PEM, the CSR and the TLS-ALPN-01 challenge certificate,
 * each parsed back with mbedTLS (and, where the command exists, checked by openssl) */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS	/* a certificate's and a CSR's signature */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <psa/crypto.h>

#include "certs.h"
#include "jose.h"
#include "x509gen.h"

#define OID_ACME X509GEN_OID_ACME_IDENTIFIER
#define OID_ACME_LEN (sizeof(OID_ACME) - 1)

/* keys made once (RSA generation is slow) */
static mbedtls_pk_context ec_key, rsa_key;

static int
setup(void **state)
{
	(void)state;
	if (psa_crypto_init() != PSA_SUCCESS)
		return -1;
	mbedtls_pk_init(&ec_key);
	mbedtls_pk_init(&rsa_key);
	if (x509gen_key(&ec_key, X509GEN_P256) != 0 ||
	    x509gen_key(&rsa_key, X509GEN_RSA2048) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mbedtls_pk_free(&ec_key);
	mbedtls_pk_free(&rsa_key);
	mbedtls_psa_crypto_free();
	return 0;
}

/* two keys have the same public part: their JWKs are equal */
static void
assert_same_public(const mbedtls_pk_context *a, const mbedtls_pk_context *b)
{
	char *ja = jose_jwk(a), *jb = jose_jwk(b);

	assert_non_null(ja);
	assert_non_null(jb);
	assert_string_equal(ja, jb);
	free(ja);
	free(jb);
}

static void
test_generated_keys(void **state)
{
	(void)state;
	assert_int_equal(mbedtls_pk_get_type(&ec_key), MBEDTLS_PK_ECKEY);
	assert_int_equal(mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(ec_key)),
	    MBEDTLS_ECP_DP_SECP256R1);
	assert_int_equal(mbedtls_pk_get_type(&rsa_key), MBEDTLS_PK_RSA);
	assert_int_equal(mbedtls_pk_get_bitlen(&rsa_key), 2048);
	/* each a real pair: the private part matches the public one */
	assert_int_equal(mbedtls_pk_check_pair(&ec_key, &ec_key,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 0);
	assert_int_equal(mbedtls_rsa_check_privkey(mbedtls_pk_rsa(rsa_key)), 0);
	assert_string_equal(jose_alg(&ec_key), "ES256");
	assert_string_equal(jose_alg(&rsa_key), "RS256");
}

/* PEM out and back in, with and without the NUL counted */
static void
pem_round_trip(const mbedtls_pk_context *pk, const char *begin)
{
	mbedtls_pk_context back;
	char *pem = x509gen_key_pem(pk);

	assert_non_null(pem);
	assert_memory_equal(pem, begin, strlen(begin));
	mbedtls_pk_init(&back);
	assert_int_equal(x509gen_key_parse(&back, pem, strlen(pem)), 0);
	assert_same_public(pk, &back);
	assert_int_equal(mbedtls_pk_check_pair(pk, &back, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE), 0);
	mbedtls_pk_free(&back);
	mbedtls_pk_init(&back);
	assert_int_equal(x509gen_key_parse(&back, pem, strlen(pem) + 1), 0);
	assert_same_public(pk, &back);
	mbedtls_pk_free(&back);
	mbedtls_platform_zeroize(pem, strlen(pem));
	free(pem);
}

static void
test_key_pem_round_trip(void **state)
{
	unsigned char der[4096];
	mbedtls_pk_context back;
	int n;

	(void)state;
	pem_round_trip(&ec_key, "-----BEGIN EC PRIVATE KEY-----\n");
	pem_round_trip(&rsa_key, "-----BEGIN RSA PRIVATE KEY-----\n");
	/* DER is taken too */
	n = mbedtls_pk_write_key_der(&ec_key, der, sizeof(der));
	assert_true(n > 0);
	mbedtls_pk_init(&back);
	assert_int_equal(x509gen_key_parse(&back, (char *)der + sizeof(der) - n,
	    (size_t)n), 0);
	assert_same_public(&ec_key, &back);
	mbedtls_pk_free(&back);
}

/* what ACME cannot sign with, and what is no key, is refused; pk stays empty */
static void
test_key_parse_refuses(void **state)
{
	mbedtls_pk_context other, back;
	char pem[4096];

	(void)state;
	mbedtls_pk_init(&back);
	assert_int_equal(x509gen_key_parse(&back, "not a key", 9), -1);
	assert_int_equal(mbedtls_pk_get_type(&back), MBEDTLS_PK_NONE);
	assert_int_equal(x509gen_key_parse(&back, "", 0), -1);
	/* a P-384 key */
	mbedtls_pk_init(&other);
	assert_int_equal(mbedtls_pk_setup(&other,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1,
	    mbedtls_pk_ec(other), mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE), 0);
	assert_int_equal(mbedtls_pk_write_key_pem(&other, (unsigned char *)pem,
	    sizeof(pem)), 0);
	assert_int_equal(x509gen_key_parse(&back, pem, strlen(pem)), -1);
	assert_int_equal(mbedtls_pk_get_type(&back), MBEDTLS_PK_NONE);
	mbedtls_pk_free(&other);
	/* an RSA key of 1024 bits */
	mbedtls_pk_init(&other);
	assert_int_equal(mbedtls_pk_setup(&other,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
	assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(other),
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE, 1024, 65537), 0);
	assert_int_equal(mbedtls_pk_write_key_pem(&other, (unsigned char *)pem,
	    sizeof(pem)), 0);
	assert_int_equal(x509gen_key_parse(&back, pem, strlen(pem)), -1);
	assert_int_equal(mbedtls_pk_get_type(&back), MBEDTLS_PK_NONE);
	mbedtls_pk_free(&other);
	/* a context that already holds a key is refused and left as it is */
	assert_int_equal(x509gen_key(&ec_key, X509GEN_P256), -1);
	assert_int_equal(mbedtls_pk_write_key_pem(&rsa_key, (unsigned char *)pem,
	    sizeof(pem)), 0);
	assert_int_equal(x509gen_key_parse(&ec_key, pem, strlen(pem)), -1);
	assert_string_equal(jose_alg(&ec_key), "ES256");
	assert_int_equal(mbedtls_pk_check_pair(&ec_key, &ec_key,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE), 0);
	/* a PEM cut short */
	pem[strlen(pem) / 2] = '\0';
	assert_int_equal(x509gen_key_parse(&back, pem, strlen(pem)), -1);
	mbedtls_platform_zeroize(pem, sizeof(pem));
}

/* sig over tbs[0..len) verifies with pk (SHA-256) */
static int
verify_sha256(mbedtls_pk_context *pk, const mbedtls_x509_buf *tbs,
    const mbedtls_x509_buf *sig)
{
	unsigned char h[32];
	size_t hl;

	if (psa_hash_compute(PSA_ALG_SHA_256, tbs->p, tbs->len, h, sizeof(h),
	    &hl) != PSA_SUCCESS)
		return -1;
	return mbedtls_pk_verify(pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig->p,
	    sig->len) == 0 ? 0 : -1;
}

/* the dNSNames of a SAN sequence, joined by ",", into out */
static void
san_names(const mbedtls_x509_sequence *seq, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (; seq != NULL && seq->buf.p != NULL; seq = seq->next) {
		assert_int_equal(seq->buf.tag,
		    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME);
		n += (size_t)snprintf(out + n, size - n, "%s%.*s", n ? "," : "",
		    (int)seq->buf.len, seq->buf.p);
		assert_true(n < size);
	}
}

/* a CSR made by x509gen_csr, parsed back: subject, SANs, key, signature */
static void
check_csr(mbedtls_pk_context *pk, const char *const *names, size_t n,
    const char *want_subject, const char *want_sans)
{
	mbedtls_x509_csr csr;
	unsigned char *der = NULL;
	size_t len = 0;
	char buf[2048];

	assert_int_equal(x509gen_csr(pk, names, n, &der, &len), 0);
	assert_non_null(der);
	mbedtls_x509_csr_init(&csr);
	assert_int_equal(mbedtls_x509_csr_parse_der(&csr, der, len), 0);
	assert_true(mbedtls_x509_dn_gets(buf, sizeof(buf), &csr.subject) >= 0);
	assert_string_equal(buf, want_subject);
	san_names(&csr.subject_alt_names, buf, sizeof(buf));
	assert_string_equal(buf, want_sans);
	assert_same_public(pk, &csr.pk);
	assert_int_equal(csr.sig_md, MBEDTLS_MD_SHA256);
	assert_int_equal(verify_sha256(&csr.pk, &csr.cri, &csr.sig), 0);
	/* and a changed request does not verify */
	csr.cri.p[csr.cri.len - 1] ^= 1;
	assert_int_equal(verify_sha256(&csr.pk, &csr.cri, &csr.sig), -1);
	mbedtls_x509_csr_free(&csr);
	free(der);
}

/*
 * A CSR for a name too long for a CN has an empty subject, which
 * mbedtls_x509_csr_parse_der refuses (it wants one name at least; RFC 2986
 * and the CAs take an empty one, and openssl verifies it: test_csr_openssl):
 * walked here with mbedtls_asn1, the subject is empty and the signature
 * over the request info verifies with the key.
 */
static void
check_csr_no_subject(mbedtls_pk_context *pk, const char *name)
{
	const char *names[] = { name };
	mbedtls_x509_buf cri, sig;
	unsigned char *der = NULL, *p, *end;
	size_t len = 0, l;
	int version = -1;

	assert_int_equal(x509gen_csr(pk, names, 1, &der, &len), 0);
	p = der;
	end = der + len;
	/* CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature } */
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE), 0);
	assert_true(p + l == end);
	cri.p = p;
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE), 0);
	cri.len = (size_t)(p + l - cri.p);
	/* info ::= SEQUENCE { version 0, subject Name, ... } */
	assert_int_equal(mbedtls_asn1_get_int(&p, end, &version), 0);
	assert_int_equal(version, 0);
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE), 0);
	assert_int_equal(l, 0);
	assert_non_null(memmem(cri.p, cri.len, name, strlen(name)));
	p = cri.p + cri.len;
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &l, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE), 0);
	p += l;
	assert_int_equal(mbedtls_asn1_get_bitstring_null(&p, end, &sig.len), 0);
	sig.p = p;
	assert_true(p + sig.len == end);
	assert_int_equal(verify_sha256(pk, &cri, &sig), 0);
	free(der);
}

/* a name of more than X509GEN_CN_MAX characters */
static void
long_name(char *out, size_t size)
{
	snprintf(out, size, "mta-sts.%s.example.com",
	    "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz");
	assert_true(strlen(out) > X509GEN_CN_MAX);
}

static void
test_csr(void **state)
{
	const char *two[] = { "mta-sts.Example.COM", "mta-sts.example.net" };
	const char *one[] = { "mta-sts.example.org" };
	const char *wild[] = { "*.example.org", "example.org" };
	char longname[128];

	(void)state;
	check_csr(&ec_key, two, 2, "CN=mta-sts.example.com",
	    "mta-sts.example.com,mta-sts.example.net");
	check_csr(&rsa_key, one, 1, "CN=mta-sts.example.org", "mta-sts.example.org");
	check_csr(&ec_key, wild, 2, "CN=*.example.org", "*.example.org,example.org");
	/* a name longer than a CN may be: in the SAN only */
	long_name(longname, sizeof(longname));
	check_csr_no_subject(&ec_key, longname);
}

static void
test_csr_refuses(void **state)
{
	const char *bad[][2] = {
		{ "mta-sts.example.com", "exa mple.com" },
		{ "mta-sts.example.com", "a,CN=evil.example" },
		{ "mta-sts.example.com", "-bad.example.com" },
		{ "mta-sts.example.com", "" },
		{ "mta-sts.example.com", "192.0.2.1" },
	};
	const char *ok[] = { "mta-sts.example.com" };
	unsigned char *der = (unsigned char *)"x";
	size_t len = 7;
	mbedtls_pk_context none;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (x509gen_csr(&ec_key, bad[i], 2, &der, &len) != -1 ||
		    der != NULL || len != 0)
			fail_msg("a CSR was made for \"%s\"", bad[i][1]);
	}
	assert_int_equal(x509gen_csr(&ec_key, ok, 0, &der, &len), -1);
	mbedtls_pk_init(&none);
	assert_int_equal(x509gen_csr(&none, ok, 1, &der, &len), -1);
}

/* run a shell command, its output into out; the exit status */
static int
run(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	out[0] = '\0';
	if (p == NULL)
		return -1;
	while (n + 1 < size) {
		size_t r = fread(out + n, 1, size - n - 1, p);

		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	return pclose(p);
}

static int
have_openssl(void)
{
	char out[256];

	return run("command -v openssl >/dev/null 2>&1 && echo yes", out,
	    sizeof(out)) == 0 && strncmp(out, "yes", 3) == 0;
}

/* a second opinion: openssl reads and verifies the CSR */
static void
test_csr_openssl(void **state)
{
	const char *names[] = { "mta-sts.example.com", "mta-sts.example.net" };
	char path[] = "/tmp/test_x509gen.csr.XXXXXX", cmd[256], out[8192];
	char path2[] = "/tmp/test_x509gen.csr.XXXXXX", name[128], want[160];
	const char *longer[] = { name };
	unsigned char *der;
	size_t len;
	int fd, rc;

	(void)state;
	if (!have_openssl()) {
		print_message("skipped: the openssl command is not installed "
		    "(Debian: openssl), so the CSR is not cross-checked\n");
		skip();
	}
	assert_int_equal(x509gen_csr(&ec_key, names, 2, &der, &len), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, der, len), (ssize_t)len);
	close(fd);
	free(der);
	snprintf(cmd, sizeof(cmd), "openssl req -inform DER -in %s -noout "
	    "-verify -text 2>&1", path);
	if (run(cmd, out, sizeof(out)) != 0)
		fail_msg("openssl req -verify failed:\n%s", out);
	unlink(path);
	if (strstr(out, "verify OK") == NULL ||
	    strstr(out, "CN = mta-sts.example.com") == NULL ||
	    strstr(out, "DNS:mta-sts.example.com, DNS:mta-sts.example.net") == NULL ||
	    strstr(out, "ecdsa-with-SHA256") == NULL)
		fail_msg("openssl's reading of the CSR lacks what was asked:\n%s", out);
	/* the empty subject of a long name's CSR, which mbedTLS cannot read */
	long_name(name, sizeof(name));
	assert_int_equal(x509gen_csr(&rsa_key, longer, 1, &der, &len), 0);
	fd = mkstemp(path2);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, der, len), (ssize_t)len);
	close(fd);
	free(der);
	snprintf(cmd, sizeof(cmd), "openssl req -inform DER -in %s -noout "
	    "-verify -text 2>&1", path2);
	rc = run(cmd, out, sizeof(out));
	unlink(path2);
	snprintf(want, sizeof(want), "DNS:%s\n", name);
	if (rc != 0 || strstr(out, "verify OK") == NULL ||
	    strstr(out, "Subject: \n") == NULL || strstr(out, want) == NULL ||
	    strstr(out, "sha256WithRSAEncryption") == NULL)
		fail_msg("openssl's reading of the long name's CSR lacks what "
		    "was asked:\n%s", out);
}

/* the extension callback: takes id-pe-acmeIdentifier only, and notes it */
struct acme_ext {
	int seen, critical;
	const unsigned char *p, *end;
};

static int
acme_ext_cb(void *ctx, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid,
    int critical, const unsigned char *p, const unsigned char *end)
{
	struct acme_ext *e = ctx;

	(void)crt;
	if (oid->len != OID_ACME_LEN || memcmp(oid->p, OID_ACME, OID_ACME_LEN) != 0)
		return -1;
	e->seen++;
	e->critical = critical;
	e->p = p;
	e->end = end;
	return 0;
}

/* the extension, found by walking the certificate's Extensions with mbedtls_asn1:
 * 0 with its critical flag and the content of its extnValue, or -1 */
static int
find_acme_ext(const mbedtls_x509_crt *crt, int *critical,
    const unsigned char **val, size_t *vlen)
{
	unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len;
	size_t len;

	/* Extensions ::= SEQUENCE OF Extension */
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0 || p + len != end)
		return -1;
	while (p < end) {
		unsigned char *ext_end, *oid;
		size_t oid_len;
		int crit = 0;

		/* Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue } */
		if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
		    MBEDTLS_ASN1_SEQUENCE) != 0)
			return -1;
		ext_end = p + len;
		if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
			return -1;
		oid = p;
		p += oid_len;
		if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
		    mbedtls_asn1_get_bool(&p, ext_end, &crit) != 0)
			return -1;
		if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 ||
		    p + len != ext_end)
			return -1;
		if (oid_len == OID_ACME_LEN && memcmp(oid, OID_ACME, OID_ACME_LEN) == 0) {
			*critical = crit;
			*val = p;
			*vlen = len;
			return 0;
		}
		p = ext_end;
	}
	return -1;
}

/* the challenge certificate of x509gen_alpn_cert, parsed and checked */
static void
check_alpn_cert(const char *name, const char *want_cn, const char *want_san,
    const char *keyauth,
    unsigned char serial_out[32], size_t *serial_len)
{
	const char *cert_end = "-----END CERTIFICATE-----\n";
	const char *key_begin = "-----BEGIN EC PRIVATE KEY-----\n";
	mbedtls_x509_crt crt;
	mbedtls_pem_context pem;
	mbedtls_pk_context key;
	struct acme_ext ext = { 0 };
	unsigned char digest[32];
	const unsigned char *der, *val = NULL;
	size_t der_len, hl, vlen = 0, used;
	char buf[512], *both = x509gen_alpn_cert(name, keyauth), *k;
	int critical = 0;
	time_t now = time(NULL);

	assert_non_null(both);
	assert_int_equal(strncmp(both, "-----BEGIN CERTIFICATE-----\n", 28), 0);
	k = strstr(both, key_begin);
	assert_non_null(k);
	assert_memory_equal(k - strlen(cert_end), cert_end, strlen(cert_end));

	/*
	 * mbedtls_x509_crt_parse refuses a certificate with a critical
	 * extension it does not know: whoever loads the challenge certificate
	 * must parse it with mbedtls_x509_crt_parse_der_with_ext_cb.
	 */
	mbedtls_x509_crt_init(&crt);
	assert_int_not_equal(mbedtls_x509_crt_parse(&crt, (unsigned char *)both,
	    strlen(both) + 1), 0);
	mbedtls_x509_crt_free(&crt);

	mbedtls_pem_init(&pem);
	assert_int_equal(mbedtls_pem_read_buffer(&pem, "-----BEGIN CERTIFICATE-----",
	    "-----END CERTIFICATE-----", (unsigned char *)both, NULL, 0, &used), 0);
	der = mbedtls_pem_get_buffer(&pem, &der_len);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse_der_with_ext_cb(&crt, der, der_len,
	    1, acme_ext_cb, &ext), 0);
	mbedtls_pem_free(&pem);

	/* subject and issuer, SAN */
	assert_int_equal(crt.version, 3);
	assert_true(mbedtls_x509_dn_gets(buf, sizeof(buf), &crt.subject) >= 0);
	assert_string_equal(buf, want_cn);
	assert_true(mbedtls_x509_dn_gets(buf, sizeof(buf), &crt.issuer) >= 0);
	assert_string_equal(buf, want_cn);
	san_names(&crt.subject_alt_names, buf, sizeof(buf));
	assert_string_equal(buf, want_san);

	/* the extension: critical, OCTET STRING of the SHA-256 of keyauth */
	assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)keyauth,
	    strlen(keyauth), digest, sizeof(digest), &hl), PSA_SUCCESS);
	assert_int_equal(find_acme_ext(&crt, &critical, &val, &vlen), 0);
	assert_int_equal(critical, 1);
	assert_int_equal(vlen, 34);
	assert_int_equal(val[0], MBEDTLS_ASN1_OCTET_STRING);
	assert_int_equal(val[1], 32);
	assert_memory_equal(val + 2, digest, 32);
	/* mbedTLS's own reading of it agrees */
	assert_int_equal(ext.seen, 1);
	assert_int_equal(ext.critical, 1);
	assert_int_equal(ext.end - ext.p, 34);
	assert_memory_equal(ext.p + 2, digest, 32);

	/* validity: from a day ago, for a week (a minute's slack either way) */
	assert_true(llabs((long long)(certs_x509_time(&crt.valid_from) - (now - 86400))) <= 60);
	assert_true(llabs((long long)(certs_x509_time(&crt.valid_to) - (now + 7 * 86400))) <= 60);

	/* self-signed with SHA-256 by the P-256 key that follows it */
	assert_int_equal(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_ECKEY);
	assert_int_equal(crt.sig_md, MBEDTLS_MD_SHA256);
	assert_int_equal(verify_sha256(&crt.pk, &crt.tbs, &crt.sig), 0);
	mbedtls_pk_init(&key);
	assert_int_equal(x509gen_key_parse(&key, k, strlen(k)), 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &key, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE), 0);
	assert_string_equal(jose_alg(&key), "ES256");
	mbedtls_pk_free(&key);

	/* a positive serial, with no needless leading zero */
	assert_true(crt.serial.len >= 8 && crt.serial.len <= 20);
	assert_true(crt.serial.p[0] != 0 && crt.serial.p[0] < 0x80);
	memcpy(serial_out, crt.serial.p, crt.serial.len);
	*serial_len = crt.serial.len;

	mbedtls_x509_crt_free(&crt);
	mbedtls_platform_zeroize(both, strlen(both));
	free(both);
}

static void
test_alpn_cert(void **state)
{
	const char *ka = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
	    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
	unsigned char s1[32], s2[32];
	size_t l1, l2;

	(void)state;
	check_alpn_cert("mta-sts.example.com", "CN=mta-sts.example.com",
	    "mta-sts.example.com", ka, s1, &l1);
	/* another certificate: another serial (and another key, checked above) */
	check_alpn_cert("mta-sts.example.com", "CN=mta-sts.example.com",
	    "mta-sts.example.com", "x.y", s2, &l2);
	assert_false(l1 == l2 && memcmp(s1, s2, l1) == 0);
	/* the name in lower case */
	check_alpn_cert("MTA-STS.Example.NET", "CN=mta-sts.example.net",
	    "mta-sts.example.net", ka, s2, &l2);
}

static void
test_alpn_cert_long_name(void **state)
{
	char name[128];
	unsigned char s[32];
	size_t l;

	(void)state;
	long_name(name, sizeof(name));
	check_alpn_cert(name, "CN=acme-tls-alpn-01 challenge", name, "t.k", s, &l);
}

static void
test_alpn_cert_refuses(void **state)
{
	(void)state;
	assert_null(x509gen_alpn_cert("*.example.com", "t.k"));
	assert_null(x509gen_alpn_cert("exa mple.com", "t.k"));
	assert_null(x509gen_alpn_cert("a,CN=b.example", "t.k"));
	assert_null(x509gen_alpn_cert("", "t.k"));
	assert_null(x509gen_alpn_cert(NULL, "t.k"));
	assert_null(x509gen_alpn_cert("mta-sts.example.com", NULL));
}

/* a second opinion: openssl reads the challenge certificate and its extension */
static void
test_alpn_cert_openssl(void **state)
{
	char path[] = "/tmp/test_x509gen.crt.XXXXXX", cmd[256], out[8192];
	char *both = x509gen_alpn_cert("mta-sts.example.com", "t.k");
	int fd;

	(void)state;
	assert_non_null(both);
	if (!have_openssl()) {
		free(both);
		print_message("skipped: the openssl command is not installed "
		    "(Debian: openssl), so the certificate is not cross-checked\n");
		skip();
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, both, strstr(both, "-----BEGIN EC") - both),
	    strstr(both, "-----BEGIN EC") - both);
	close(fd);
	free(both);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -text 2>&1", path);
	if (run(cmd, out, sizeof(out)) != 0)
		fail_msg("openssl x509 could not read the certificate:\n%s", out);
	unlink(path);
	if (strstr(out, "1.3.6.1.5.5.7.1.31: critical") == NULL ||
	    strstr(out, "DNS:mta-sts.example.com") == NULL ||
	    strstr(out, "Subject: CN = mta-sts.example.com") == NULL ||
	    strstr(out, "ecdsa-with-SHA256") == NULL)
		fail_msg("openssl's reading of the certificate lacks what was "
		    "asked:\n%s", out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_keys),
		cmocka_unit_test(test_key_pem_round_trip),
		cmocka_unit_test(test_key_parse_refuses),
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_csr_refuses),
		cmocka_unit_test(test_csr_openssl),
		cmocka_unit_test(test_alpn_cert),
		cmocka_unit_test(test_alpn_cert_long_name),
		cmocka_unit_test(test_alpn_cert_refuses),
		cmocka_unit_test(test_alpn_cert_openssl),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
