/* x509gen.c - keys, CSRs and the TLS-ALPN-01 challenge certificate (mbedTLS) */
#include "x509gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <psa/crypto.h>

#include "jose.h"
#include "names.h"

#define SHA256_LEN 32
#define RSA_BITS 2048
#define RSA_EXPONENT 65537
#define KEY_PEM_MAX 8192	/* an RSA 4096 key's PEM is about 3.3 KB */
#define CERT_PEM_MAX 4096	/* the challenge certificate's is about 800 bytes */
#define SERIAL_LEN 16
#define DAY 86400
/* RFC 8737 asks nothing of the subject; this one stands in for a long name */
#define ALPN_LONG_NAME_CN "CN=acme-tls-alpn-01 challenge"

int
x509gen_key(mbedtls_pk_context *pk, enum x509gen_key type)
{
	int ret = -1;

	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_NONE)
		return -1;	/* a key already there stays */
	switch (type) {
	case X509GEN_P256:
		if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(
		    MBEDTLS_PK_ECKEY)) == 0)
			ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
			    mbedtls_pk_ec(*pk), mbedtls_psa_get_random,
			    MBEDTLS_PSA_RANDOM_STATE);
		break;
	case X509GEN_RSA2048:
		if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(
		    MBEDTLS_PK_RSA)) == 0)
			ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk),
			    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE,
			    RSA_BITS, RSA_EXPONENT);
		break;
	}
	if (ret != 0) {
		mbedtls_pk_free(pk);
		mbedtls_pk_init(pk);
		return -1;
	}
	return 0;
}

char *
x509gen_key_pem(const mbedtls_pk_context *pk)
{
	unsigned char *buf = malloc(KEY_PEM_MAX);
	char *pem = NULL;

	if (buf == NULL)
		return NULL;
	/* mbedtls_pk_write_key_pem takes a non-const key (it does not change it) */
	if (mbedtls_pk_write_key_pem((mbedtls_pk_context *)pk, buf,
	    KEY_PEM_MAX) == 0)
		pem = strdup((char *)buf);
	mbedtls_platform_zeroize(buf, KEY_PEM_MAX);
	free(buf);
	return pem;
}

int
x509gen_key_parse(mbedtls_pk_context *pk, const char *pem, size_t len)
{
	unsigned char *buf;
	int ret;

	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_NONE)
		return -1;	/* a key already there stays */
	/* mbedTLS reads PEM only with the NUL counted in the length */
	if (len > 0 && pem[len - 1] == '\0')
		len--;
	buf = malloc(len + 1);
	if (buf == NULL)
		return -1;
	memcpy(buf, pem, len);
	buf[len] = '\0';
	ret = mbedtls_pk_parse_key(pk, buf, len + 1, NULL, 0,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	if (ret != 0)	/* DER has no NUL after it */
		ret = mbedtls_pk_parse_key(pk, buf, len, NULL, 0,
		    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	mbedtls_platform_zeroize(buf, len + 1);
	free(buf);
	if (ret != 0 || jose_alg(pk) == NULL) {
		mbedtls_pk_free(pk);
		mbedtls_pk_init(pk);
		return -1;
	}
	return 0;
}

/* name in lower case into out (NAME_MAX_LEN + 1 bytes), checked as a DNS
 * host name, a leading "*." allowed when wildcard; 0 or -1 */
static int
dns_name(const char *name, int wildcard, char *out)
{
	if (wildcard && strncmp(name, "*.", 2) == 0) {
		if (strlen(name) > NAME_MAX_LEN || name_normalise(name + 2,
		    strlen(name + 2), out + 2, NAME_MAX_LEN - 1) != 0)
			return -1;
		out[0] = '*';
		out[1] = '.';
		return 0;
	}
	return name_normalise(name, strlen(name), out, NAME_MAX_LEN + 1);
}

/* names[0..n) as a SAN list of dNSNames pointing into buf (n entries of
 * NAME_MAX_LEN + 1 bytes), the head of the list at the last entry: mbedTLS
 * writes DER back to front, so names[0] comes first in the extension; NULL
 * on a bad name or out of memory */
static mbedtls_x509_san_list *
san_list(const char *const *names, size_t n, int wildcard, char *buf)
{
	mbedtls_x509_san_list *list = calloc(n, sizeof(*list));

	if (list == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char *name = buf + i * (NAME_MAX_LEN + 1);

		if (names[i] == NULL || dns_name(names[i], wildcard, name) != 0) {
			free(list);
			return NULL;
		}
		list[i].node.type = MBEDTLS_X509_SAN_DNS_NAME;
		list[i].node.san.unstructured_name.tag =
		    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME;
		list[i].node.san.unstructured_name.p = (unsigned char *)name;
		list[i].node.san.unstructured_name.len = strlen(name);
		list[i].next = i > 0 ? &list[i - 1] : NULL;
	}
	return list;
}

int
x509gen_csr(const mbedtls_pk_context *pk, const char *const *names, size_t n,
    unsigned char **der, size_t *len)
{
	mbedtls_x509write_csr csr;
	mbedtls_x509_san_list *list = NULL;
	char *buf = NULL, subject[3 + NAME_MAX_LEN + 1];
	unsigned char *out = NULL;
	size_t size;
	int ret = -1, w;

	*der = NULL;
	*len = 0;
	if (n == 0 || n > X509GEN_CSR_MAX_NAMES || jose_alg(pk) == NULL)
		return -1;
	mbedtls_x509write_csr_init(&csr);
	buf = malloc(n * (NAME_MAX_LEN + 1));
	size = 2048 + n * (NAME_MAX_LEN + 8);
	out = malloc(size);
	if (buf == NULL || out == NULL)
		goto done;
	list = san_list(names, n, 1, buf);
	if (list == NULL)
		goto done;
	mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&csr, (mbedtls_pk_context *)pk);
	/* a name too long for the CN goes in the SAN only, as CAs ask */
	if (strlen(buf) <= X509GEN_CN_MAX) {
		snprintf(subject, sizeof(subject), "CN=%s", buf);
		if (mbedtls_x509write_csr_set_subject_name(&csr, subject) != 0)
			goto done;
	}
	if (mbedtls_x509write_csr_set_subject_alternative_name(&csr,
	    &list[n - 1]) != 0)
		goto done;
	/* written at the end of out */
	w = mbedtls_x509write_csr_der(&csr, out, size, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE);
	if (w <= 0)
		goto done;
	*der = malloc(w);
	if (*der == NULL)
		goto done;
	memcpy(*der, out + size - w, w);
	*len = w;
	ret = 0;
done:
	mbedtls_x509write_csr_free(&csr);
	free(list);
	free(buf);
	free(out);
	return ret;
}

/* t as mbedTLS's validity text, YYYYMMDDhhmmss in UTC; 0 or -1 */
static int
validity_text(time_t t, char out[15])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

/* fill the challenge certificate's fields: all but the signature */
static int
alpn_fields(mbedtls_x509write_cert *crt, mbedtls_pk_context *key,
    const char *name, mbedtls_x509_san_list *san, const unsigned char ext[2 + SHA256_LEN])
{
	char subject[3 + NAME_MAX_LEN + 1], from[15], until[15];
	unsigned char serial[SERIAL_LEN];
	time_t now = time(NULL);

	if (strlen(name) <= X509GEN_CN_MAX)
		snprintf(subject, sizeof(subject), "CN=%s", name);
	else
		snprintf(subject, sizeof(subject), "%s", ALPN_LONG_NAME_CN);
	/* positive, and no leading zero byte: a minimal DER INTEGER */
	if (mbedtls_psa_get_random(MBEDTLS_PSA_RANDOM_STATE, serial,
	    sizeof(serial)) != 0)
		return -1;
	serial[0] = (serial[0] & 0x7f) | 0x40;
	if (validity_text(now - DAY, from) != 0 ||
	    validity_text(now + 7 * DAY, until) != 0)
		return -1;
	mbedtls_x509write_crt_set_version(crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(crt, key);
	mbedtls_x509write_crt_set_issuer_key(crt, key);
	if (mbedtls_x509write_crt_set_subject_name(crt, subject) != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(crt, subject) != 0 ||
	    mbedtls_x509write_crt_set_serial_raw(crt, serial, sizeof(serial)) != 0 ||
	    mbedtls_x509write_crt_set_validity(crt, from, until) != 0 ||
	    mbedtls_x509write_crt_set_subject_alternative_name(crt, san) != 0 ||
	    mbedtls_x509write_crt_set_extension(crt, X509GEN_OID_ACME_IDENTIFIER,
	    sizeof(X509GEN_OID_ACME_IDENTIFIER) - 1, 1, ext, 2 + SHA256_LEN) != 0)
		return -1;
	return 0;
}

char *
x509gen_alpn_cert(const char *name, const char *key_authorization)
{
	mbedtls_x509write_cert crt;
	mbedtls_pk_context key;
	mbedtls_x509_san_list *san = NULL;
	char lname[NAME_MAX_LEN + 1], *keypem = NULL, *out = NULL;
	const char *names[1] = { name };
	unsigned char ext[2 + SHA256_LEN], *cert = NULL;
	size_t hlen, clen, klen;

	if (name == NULL || key_authorization == NULL)
		return NULL;
	mbedtls_x509write_crt_init(&crt);
	mbedtls_pk_init(&key);
	san = san_list(names, 1, 0, lname);
	/* the extension's value: OCTET STRING (0x04), 32 bytes, the digest */
	ext[0] = MBEDTLS_ASN1_OCTET_STRING;
	ext[1] = SHA256_LEN;
	if (san == NULL || psa_hash_compute(PSA_ALG_SHA_256,
	    (const uint8_t *)key_authorization, strlen(key_authorization),
	    ext + 2, SHA256_LEN, &hlen) != PSA_SUCCESS ||
	    x509gen_key(&key, X509GEN_P256) != 0 ||
	    alpn_fields(&crt, &key, lname, san, ext) != 0)
		goto done;
	cert = malloc(CERT_PEM_MAX);
	if (cert == NULL || mbedtls_x509write_crt_pem(&crt, cert, CERT_PEM_MAX,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE) != 0)
		goto done;
	keypem = x509gen_key_pem(&key);
	if (keypem == NULL)
		goto done;
	clen = strlen((char *)cert);
	klen = strlen(keypem);
	out = malloc(clen + klen + 1);
	if (out != NULL) {
		memcpy(out, cert, clen);
		memcpy(out + clen, keypem, klen + 1);
	}
done:
	if (keypem != NULL) {
		mbedtls_platform_zeroize(keypem, strlen(keypem));
		free(keypem);
	}
	free(cert);
	free(san);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return out;
}
