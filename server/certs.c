/* certs.c - certificate chains and keys (mbedTLS), their checks, and SAN names */
#include "certs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>

#include "names.h"

int
certs_stamp(const char *path, struct file_stamp *st)
{
	struct stat sb;

	if (stat(path, &sb) == -1)
		return -1;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL +
	    sb.st_mtim.tv_nsec;
	st->ctime_ns = (long long)sb.st_ctim.tv_sec * 1000000000LL +
	    sb.st_ctim.tv_nsec;
	return 0;
}

static int
stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

int
certs_unchanged(const struct certkey *ck)
{
	struct file_stamp c, k;

	if (certs_stamp(ck->cert_path, &c) == -1 ||
	    certs_stamp(ck->key_path, &k) == -1)
		return 0;
	return stamp_equal(&c, &ck->cert_stamp) && stamp_equal(&k, &ck->key_stamp);
}

time_t
certs_x509_time(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

/* what to do about a key on a curve left out of the build */
#define CURVE_HINT "the key's elliptic curve is not built in: use an RSA " \
	"key or an ECDSA key on P-256, P-384 or P-521"

/* what to do about an RSA key longer than the big numbers mbedTLS is built
 * for (MBEDTLS_MPI_MAX_SIZE bytes: 8192 bits by default) */
#define RSA_SIZE_HINT "the RSA key is too large: %zu bits, and this build " \
	"handles RSA keys up to %d bits (mbedTLS's MBEDTLS_MPI_MAX_SIZE); use " \
	"a key of 2048 to 4096 bits, or ECDSA P-256"

/*
 * The largest files read. A chain that can be sent is under 16 KiB of DER
 * (about 22 KiB of PEM), but a whole CA bundle appended by mistake is read,
 * so that the error can say how large the chain is; a 16,384-bit RSA key
 * is about 13 KiB of PEM.
 */
#define CERT_FILE_MAX (4 * 1024 * 1024)
#define KEY_FILE_MAX (64 * 1024)

static const char *
tls_strerror(int ret, char *buf, size_t len)
{
	mbedtls_strerror(ret, buf, len);
	return buf;
}

/* the bits of the ASN.1 INTEGER at *p (moved past it), or 0 */
static size_t
asn1_int_bits(unsigned char **p, const unsigned char *end)
{
	const unsigned char *q;
	size_t len, bits;

	if (mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_INTEGER) != 0)
		return 0;
	q = *p;
	*p += len;
	while (len > 0 && *q == 0) {
		q++;
		len--;
	}
	if (len == 0)
		return 0;
	bits = len * 8;
	for (unsigned char c = *q; !(c & 0x80); c = (unsigned char)(c << 1))
		bits--;
	return bits;
}

/* move *p past one ASN.1 element (one-byte tags); returns 0 or -1 */
static int
asn1_skip(unsigned char **p, const unsigned char *end)
{
	size_t len;

	if (end - *p < 1)
		return -1;
	(*p)++;
	if (mbedtls_asn1_get_len(p, end, &len) != 0)
		return -1;
	*p += len;
	return 0;
}

/* at *p an AlgorithmIdentifier: is it rsaEncryption? (moved past it) */
static int
asn1_alg_is_rsa(unsigned char **p, const unsigned char *end)
{
	static const char rsa[] = MBEDTLS_OID_PKCS1_RSA;
	unsigned char *alg_end;
	size_t len;

	if (mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0)
		return 0;
	int is_rsa;

	alg_end = *p + len;
	if (mbedtls_asn1_get_tag(p, alg_end, &len, MBEDTLS_ASN1_OID) != 0)
		return 0;
	is_rsa = len == sizeof(rsa) - 1 && memcmp(*p, rsa, len) == 0;
	*p = alg_end;
	return is_rsa;
}

/* the bits of the RSA modulus in a DER private key (PKCS#1 or PKCS#8), or 0 */
static size_t
der_key_rsa_bits(unsigned char *p, const unsigned char *end)
{
	size_t len;
	int version;

	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE) != 0)
		return 0;
	end = p + len;
	if (mbedtls_asn1_get_int(&p, end, &version) != 0 || p >= end)
		return 0;
	if (*p == (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) {
		/* PKCS#8: the algorithm, then PKCS#1 in an OCTET STRING */
		if (!asn1_alg_is_rsa(&p, end) || mbedtls_asn1_get_tag(&p, end,
		    &len, MBEDTLS_ASN1_OCTET_STRING) != 0)
			return 0;
		return der_key_rsa_bits(p, p + len);
	}
	return asn1_int_bits(&p, end);	/* PKCS#1: the modulus */
}

/* the bits of the RSA modulus of a DER certificate's public key, or 0 */
static size_t
der_cert_rsa_bits(unsigned char *p, const unsigned char *end)
{
	const int seq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
	size_t len;

	/* Certificate, TBSCertificate, [0] version, serial, signature,
	 * issuer, validity, subject, then SubjectPublicKeyInfo */
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return 0;
	end = p + len;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return 0;
	end = p + len;
	if (p < end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
	    MBEDTLS_ASN1_CONSTRUCTED | 0) && asn1_skip(&p, end) == -1)
		return 0;
	for (int i = 0; i < 5; i++)
		if (asn1_skip(&p, end) == -1 || p > end)
			return 0;
	if (mbedtls_asn1_get_tag(&p, end, &len, seq) != 0)
		return 0;
	end = p + len;
	if (!asn1_alg_is_rsa(&p, end) ||
	    mbedtls_asn1_get_bitstring_null(&p, end, &len) != 0 ||
	    mbedtls_asn1_get_tag(&p, p + len, &len, seq) != 0)
		return 0;
	return asn1_int_bits(&p, p + len);
}

/*
 * The largest RSA modulus, in bits, among the PEM blocks of text that are
 * certificates (is_cert) or private keys: how to tell "too large" from
 * other reasons mbedTLS refuses a key (its error codes do not). 0: none.
 */
static size_t
pem_rsa_bits(const unsigned char *text, int is_cert)
{
	const char *s = (const char *)text, *begin, *end;
	size_t best = 0;

	while ((begin = strstr(s, "-----BEGIN ")) != NULL &&
	    (end = strstr(begin, "-----END ")) != NULL) {
		const char *label = begin + 11, *body = strchr(label, '\n');
		unsigned char *der;
		size_t n = 0, bits = 0, cap;
		int want = is_cert ? strncmp(label, "CERTIFICATE-----", 16) == 0 :
		    strncmp(label, "PRIVATE KEY-----", 16) == 0 ||
		    strncmp(label, "RSA PRIVATE KEY-----", 20) == 0;

		s = end + 9;
		if (!want || body == NULL || body > end)
			continue;
		cap = (size_t)(end - body);
		if ((der = malloc(cap)) == NULL)
			break;
		if (mbedtls_base64_decode(der, cap, &n, (const unsigned char *)body,
		    (size_t)(end - body)) == 0)
			bits = is_cert ? der_cert_rsa_bits(der, der + n) :
			    der_key_rsa_bits(der, der + n);
		mbedtls_platform_zeroize(der, cap);
		free(der);
		if (bits > best)
			best = bits;
	}
	return best;
}

/* why mbedTLS could not parse the chain or key in pem (error ret), into
 * buf: an RSA key too large (mbedTLS's own text would blame the format),
 * else its text and the cause when known (a curve left out), else dflt */
static const char *
parse_reason(int ret, const unsigned char *pem, int is_cert, const char *dflt,
    char *buf, size_t len)
{
	char err[128];
	size_t bits;

	if ((bits = pem_rsa_bits(pem, is_cert)) > MBEDTLS_MPI_MAX_BITS)
		snprintf(buf, len, RSA_SIZE_HINT, bits, MBEDTLS_MPI_MAX_BITS);
	else if (ret > 0)
		snprintf(buf, len, "%d certificate(s) in the file could not be "
		    "parsed; %s", ret, dflt);
	else
		snprintf(buf, len, "%s; %s", tls_strerror(ret, err, sizeof(err)),
		    ret == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE ? CURVE_HINT : dflt);
	return buf;
}

/* the user and group this process reads files as, for messages */
static void
reader_names(char *user, size_t ulen, char *group, size_t glen)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[2048];

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &pwp) == 0 &&
	    pwp != NULL)
		snprintf(user, ulen, "%s", pw.pw_name);
	else
		snprintf(user, ulen, "uid %u", (unsigned)geteuid());
	if (getgrgid_r(getegid(), &gr, buf, sizeof(buf), &grp) == 0 &&
	    grp != NULL)
		snprintf(group, glen, "%s", gr.gr_name);
	else
		snprintf(group, glen, "gid %u", (unsigned)getegid());
}

void
certs_explain(struct diag *d, enum diag_severity sev, const char *path,
    const char *what, int err)
{
	char target[PATH_MAX], user[64], group[64];
	struct stat sb;
	ssize_t n;

	if (err == ENOENT && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode) &&
	    (n = readlink(path, target, sizeof(target) - 1)) >= 0) {
		target[n] = '\0';
		diag_add(d, sev, path, 0, "cannot read %s: it is a symlink to "
		    "\"%s\", which does not exist; %s", what, target,
		    strstr(target, "archive/") != NULL ? "certbot's live/ links "
		    "point into archive/: make archive/ readable beside live/ "
		    "(mount or copy all of /etc/letsencrypt, not live/ alone)" :
		    "restore the file it points to, or point the link at one");
		return;
	}
	if (err == EACCES) {
		char certbot[160] = "";

		reader_names(user, sizeof(user), group, sizeof(group));
		if (strstr(path, "live/") != NULL || strstr(path, "archive/"))
			snprintf(certbot, sizeof(certbot), " (for certbot: "
			    "chgrp -R %s and chmod -R g+rX both live/ and "
			    "archive/; see certs/README)", group);
		diag_add(d, sev, path, 0, "cannot read %s: Permission denied "
		    "for user %s (group %s); give that group read access to the "
		    "file and search access to each directory above it, e.g. "
		    "chgrp %s FILE && chmod 0640 FILE, chmod g+x on the "
		    "directories%s", what, user, group, group, certbot);
		return;
	}
	diag_add(d, sev, path, 0, "cannot read %s: %s", what, strerror(err));
}

/*
 * Read the whole of the PEM file at path into *buf, NUL-terminated as
 * mbedTLS's PEM parsers want (*len counts the NUL): at most max bytes, only
 * a regular file, opened without blocking (a FIFO). Returns 0, or -1 after
 * adding the reason to d.
 */
static int
read_pem(const char *path, const char *what, size_t max, unsigned char **buf,
    size_t *len, struct diag *d)
{
	struct stat sb;
	size_t n = 0, cap;
	unsigned char *b;
	int fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		certs_explain(d, DIAG_ERROR, path, what, errno);
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		diag_err(d, path, 0, "cannot read %s: not a regular file", what);
		close(fd);
		return -1;
	}
	if ((unsigned long long)sb.st_size > max) {
		diag_err(d, path, 0, "cannot load %s: the file is %lld bytes, "
		    "more than the %zu a %s can take", what,
		    (long long)sb.st_size, max, what);
		close(fd);
		return -1;
	}
	cap = (size_t)sb.st_size + 1;
	if ((b = malloc(cap)) == NULL) {
		diag_err(d, path, 0, "out of memory");
		close(fd);
		return -1;
	}
	/* a file growing meanwhile is cut at its size: its stamp then
	 * differs and the next reload reads it again */
	while (n < cap - 1) {
		ssize_t r = read(fd, b + n, cap - 1 - n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			certs_explain(d, DIAG_ERROR, path, what, errno);
			mbedtls_platform_zeroize(b, cap);
			free(b);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n + 1;
	return 0;
}

/* wipe and free what read_pem returned */
static void
free_pem(unsigned char *buf, size_t len)
{
	if (buf == NULL)
		return;
	mbedtls_platform_zeroize(buf, len);
	free(buf);
}

/*
 * The size of the TLS 1.3 Certificate message that sends chain: handshake
 * header (4), empty request context (1), list length (3), then per
 * certificate its length (3), its DER and empty extensions (2). TLS 1.2's
 * message is smaller (no context, no extensions), so this is the bound.
 */
static size_t
chain_message_len(const mbedtls_x509_crt *crt, size_t *ncerts, size_t *der)
{
	size_t len = 4 + 1 + 3;

	*ncerts = *der = 0;
	for (; crt != NULL && crt->raw.p != NULL; crt = crt->next) {
		len += 3 + crt->raw.len + 2;
		*der += crt->raw.len;
		(*ncerts)++;
	}
	return len;
}

/* Can mbedTLS send this chain? It writes the Certificate handshake message
 * into one output record of MBEDTLS_SSL_OUT_CONTENT_LEN bytes and does not
 * split handshake messages across records (TLS, not DTLS): a longer chain
 * fails every handshake. Returns 0, or -1 after telling d. */
static int
check_chain_size(const struct certkey *ck, struct diag *d)
{
	size_t ncerts, der, len = chain_message_len(&ck->chain, &ncerts, &der);

	if (len <= MBEDTLS_SSL_OUT_CONTENT_LEN)
		return 0;
	diag_err(d, ck->cert_path, 0, "the certificate chain is too large to "
	    "send: %zu certificates, %zu bytes of DER, make a %zu-byte TLS "
	    "Certificate message, and at most %d bytes can be sent "
	    "(MBEDTLS_SSL_OUT_CONTENT_LEN; mbedTLS does not split handshake "
	    "messages): every handshake would fail; keep the leaf and the "
	    "intermediates it needs, without the root or a CA bundle",
	    ncerts, der, len, MBEDTLS_SSL_OUT_CONTENT_LEN);
	return -1;
}

/* collect the leaf's SAN dNSName entries, lower-cased and validated */
static int
collect_names(struct certkey *ck)
{
	const mbedtls_x509_sequence *seq;
	size_t n = 0;

	for (seq = &ck->chain.subject_alt_names; seq != NULL; seq = seq->next)
		n++;
	if ((ck->names = calloc(n ? n : 1, sizeof(char *))) == NULL)
		return -1;
	for (seq = &ck->chain.subject_alt_names; seq != NULL; seq = seq->next) {
		char name[NAME_MAX_LEN + 1];
		const unsigned char *p = seq->buf.p;
		size_t len = seq->buf.len;
		int wild = 0;

		if (seq->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		    MBEDTLS_X509_SAN_DNS_NAME) || p == NULL || len == 0)
			continue;
		if (len > 2 && p[0] == '*' && p[1] == '.') {
			wild = 1;
			p += 2;
			len -= 2;
		}
		if (len > NAME_MAX_LEN - 2 ||
		    name_normalise((const char *)p, len, name + 2 * wild,
		    sizeof(name) - 2) == -1)
			continue;	/* not a host name we could ever match */
		if (wild) {
			name[0] = '*';
			name[1] = '.';
		}
		if ((ck->names[ck->nnames] = strdup(name)) == NULL)
			return -1;
		ck->nnames++;
	}
	return 0;
}

/* the directory path's symlinks resolve to, when it differs from path's own */
static char *
real_dir(const char *path)
{
	char real[PATH_MAX], *slash;
	size_t dirlen;

	if (realpath(path, real) == NULL || (slash = strrchr(real, '/')) == NULL)
		return NULL;
	*slash = '\0';
	dirlen = strrchr(path, '/') != NULL ? (size_t)(strrchr(path, '/') - path) : 0;
	if (strlen(real) == dirlen && strncmp(real, path, dirlen) == 0)
		return NULL;
	return strdup(real);
}

/*
 * Hold ck's private key in PSA's key store, imported once here, and make
 * ck->key a reference to it: with MBEDTLS_USE_PSA_CRYPTO a parsed key is
 * otherwise imported into PSA for every signature (and destroyed after it).
 * An EC key may sign ECDSA with any hash (randomized: the nettle driver's,
 * since the build unsets MBEDTLS_ECDSA_DETERMINISTIC); an RSA key PKCS#1
 * v1.5 (TLS 1.2) and, as its second algorithm, PSS (TLS 1.3). The key pair
 * was checked before (mbedtls_pk_check_pair does not take an opaque RSA
 * key). When PSA cannot take the key, ck keeps the parsed key, which signs
 * as before.
 */
static void
key_into_psa(struct certkey *ck)
{
#if defined(MBEDTLS_USE_PSA_CRYPTO)
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	mbedtls_svc_key_id_t id = MBEDTLS_SVC_KEY_ID_INIT;
	mbedtls_pk_context opaque;

	if (mbedtls_pk_get_psa_attributes(&ck->key, PSA_KEY_USAGE_SIGN_HASH,
	    &at) != 0)
		return;
	if (!ck->is_ec)
		psa_set_key_enrollment_algorithm(&at,
		    PSA_ALG_RSA_PSS(PSA_ALG_ANY_HASH));
	if (mbedtls_pk_import_into_psa(&ck->key, &at, &id) != 0)
		return;
	mbedtls_pk_init(&opaque);
	if (mbedtls_pk_setup_opaque(&opaque, id) != 0) {
		psa_destroy_key(id);
		return;
	}
	mbedtls_pk_free(&ck->key);		/* wipes the parsed copy */
	ck->key = opaque;
	ck->psa_key = id;
#else
	(void)ck;
#endif
}

int
certs_load(const char *cert_path, const char *key_path, struct certkey **out,
    struct diag *d)
{
	struct certkey *ck;
	struct stat sb;
	unsigned char *pem = NULL;
	size_t pemlen = 0;
	char why[384];
	int ret, bad;

	*out = NULL;
	if ((ck = calloc(1, sizeof(*ck))) == NULL) {
		diag_err(d, cert_path, 0, "out of memory");
		return -1;
	}
	atomic_init(&ck->refs, 1);
	mbedtls_x509_crt_init(&ck->chain);
	mbedtls_pk_init(&ck->key);
	if ((ck->cert_path = strdup(cert_path)) == NULL ||
	    (ck->key_path = strdup(key_path)) == NULL ||
	    asprintf(&ck->pair, "%s\n%s", cert_path, key_path) == -1) {
		ck->pair = NULL;
		diag_err(d, cert_path, 0, "out of memory");
		goto fail;
	}

	/* stamps first: a file replaced while we read it then looks changed */
	if (certs_stamp(cert_path, &ck->cert_stamp) == -1) {
		certs_explain(d, DIAG_ERROR, cert_path, "certificate", errno);
		goto fail;
	}
	if (certs_stamp(key_path, &ck->key_stamp) == -1) {
		certs_explain(d, DIAG_ERROR, key_path, "private key", errno);
		goto fail;
	}

	if (read_pem(cert_path, "certificate", CERT_FILE_MAX, &pem, &pemlen,
	    d) == -1)
		goto fail;
	ret = mbedtls_x509_crt_parse(&ck->chain, pem, pemlen);
	/* the size first: a CA bundle appended may also hold certificates
	 * mbedTLS cannot parse, and the size is what to fix */
	bad = check_chain_size(ck, d);
	if (ret != 0) {
		diag_err(d, cert_path, 0, "cannot load certificate chain: %s",
		    parse_reason(ret, pem, 1, "it must hold PEM certificates, "
		    "the leaf first, then the intermediates", why, sizeof(why)));
		bad = -1;
	}
	free_pem(pem, pemlen);
	pem = NULL;

	if (stat(key_path, &sb) == 0 && (sb.st_mode & S_IROTH))
		diag_warn(d, key_path, 0, "private key is readable by every "
		    "user; chmod o-r it (0600 or 0640)");
	if (read_pem(key_path, "private key", KEY_FILE_MAX, &pem, &pemlen,
	    d) == -1)
		goto fail;
	ret = mbedtls_pk_parse_key(&ck->key, pem, pemlen, NULL, 0,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	if (ret != 0)
		diag_err(d, key_path, 0, "cannot load private key: %s",
		    parse_reason(ret, pem, 0, "it must be an unencrypted PEM RSA "
		    "or EC key", why, sizeof(why)));
	free_pem(pem, pemlen);
	pem = NULL;
	if (ret != 0)
		goto fail;
	if (mbedtls_pk_get_type(&ck->key) == MBEDTLS_PK_RSA &&
	    mbedtls_pk_get_bitlen(&ck->key) < CERTS_RSA_MIN_BITS) {
		diag_err(d, key_path, 0, "the RSA key has %zu bits, too few: "
		    "senders using OpenSSL refuse RSA keys under %d bits at "
		    "their default security level; use %d or more (a new key "
		    "and certificate), or ECDSA P-256",
		    mbedtls_pk_get_bitlen(&ck->key), CERTS_RSA_MIN_BITS,
		    CERTS_RSA_MIN_BITS);
		goto fail;
	}
	if (bad == -1)
		goto fail;
	ret = mbedtls_pk_check_pair(&ck->chain.pk, &ck->key,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	if (ret != 0) {
		diag_err(d, key_path, 0, "private key does not match the "
		    "certificate in %s; give the key the certificate was issued "
		    "for", cert_path);
		goto fail;
	}
	ck->is_ec = mbedtls_pk_can_do(&ck->key, MBEDTLS_PK_ECKEY);
	key_into_psa(ck);
	ck->cert_real_dir = real_dir(cert_path);
	ck->key_real_dir = real_dir(key_path);
	ck->not_before = certs_x509_time(&ck->chain.valid_from);
	ck->not_after = certs_x509_time(&ck->chain.valid_to);
	if (collect_names(ck) == -1) {
		diag_err(d, cert_path, 0, "out of memory");
		goto fail;
	}
	*out = ck;
	return 0;
fail:
	certs_unref(ck);
	return -1;
}

void
certs_ref(struct certkey *ck)
{
	atomic_fetch_add_explicit(&ck->refs, 1, memory_order_relaxed);
}

void
certs_unref(struct certkey *ck)
{
	if (ck == NULL ||
	    atomic_fetch_sub_explicit(&ck->refs, 1, memory_order_acq_rel) != 1)
		return;
	mbedtls_pk_free(&ck->key);		/* wipes the key material */
#if defined(MBEDTLS_USE_PSA_CRYPTO)
	psa_destroy_key(ck->psa_key);		/* and PSA's copy; 0: none */
#endif
	mbedtls_x509_crt_free(&ck->chain);
	for (size_t i = 0; i < ck->nnames; i++)
		free(ck->names[i]);
	free(ck->names);
	free(ck->cert_path);
	free(ck->key_path);
	free(ck->pair);
	free(ck->cert_real_dir);
	free(ck->key_real_dir);
	free(ck);
}

int
certs_covers(const struct certkey *ck, const char *host)
{
	for (size_t i = 0; i < ck->nnames; i++)
		if (name_match(ck->names[i], host))
			return 1;
	return 0;
}

int
certs_check(const struct certkey *ck, const char *domain, const char *host,
    time_t now, struct diag *d)
{
	char when[32];
	struct tm tm;
	int ok = 0;

	if (!certs_covers(ck, host)) {
		char names[512] = "";
		size_t used = 0;

		for (size_t i = 0; i < ck->nnames && used < sizeof(names); i++)
			used += (size_t)snprintf(names + used, sizeof(names) - used,
			    "%s%s", i ? ", " : "", ck->names[i]);
		diag_err(d, ck->cert_path, 0, "%s: the certificate does not cover "
		    "%s (its DNS names: %s); get one with %s in its SAN", domain,
		    host, ck->nnames ? names : "none", host);
		ok = -1;
	}
	if (now < ck->not_before) {
		gmtime_r(&ck->not_before, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		diag_err(d, ck->cert_path, 0, "%s: the certificate is not valid "
		    "before %s; check the clock or the certificate", domain, when);
		ok = -1;
	}
	gmtime_r(&ck->not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (now > ck->not_after) {
		diag_err(d, ck->cert_path, 0, "%s: the certificate expired on %s; "
		    "renew it", domain, when);
		ok = -1;
	} else if (ck->not_after - now < CERTS_EXPIRY_WARN_DAYS * 86400L) {
		diag_warn(d, ck->cert_path, 0, "%s: the certificate expires on %s, "
		    "in less than %d days; renew it", domain, when,
		    CERTS_EXPIRY_WARN_DAYS);
	}
	return ok;
}
