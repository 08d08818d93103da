/* tls.c - the mbedTLS server configuration and the certificate selection */

/* the certificate selection reads the ClientHello mbedTLS has just parsed
 * from the context's input buffer, a field mbedTLS 3.6 marks private */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/psa_util.h>

#include "challenge.h"

static mbedtls_ssl_config conf;
static int conf_ready;

/* forward-secret AEAD only: TLS 1.3's three, then ECDHE + AES-GCM/ChaCha20 */
static const int ciphersuites[] = {
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0
};

/* X25519 first: the cheapest key exchange mbedTLS has */
static const uint16_t groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE
};

/* mbedTLS picks the first of these the client offers (our order, not the
 * client's): acme-tls/1 only for a client that offers nothing else */
static const char *alpn[] = { "http/1.1", TLS_ALPN_ACME, NULL };

/* offer every certificate of the domain; mbedTLS picks by what the client
 * supports (ECDSA or RSA). Called once per connection: the domain whose
 * certificate is presented is the one its requests are answered for. */
static int
tls_use_domain(mbedtls_ssl_context *ssl, struct tls_peer *peer,
    const struct domain *dom)
{
	for (int i = 0; i < 2 && dom->ck[i] != NULL; i++)
		if (mbedtls_ssl_set_hs_own_cert(ssl, &dom->ck[i]->chain,
		    &dom->ck[i]->key) != 0)
			return -1;
	peer->domain = dom;
	return 0;
}

/* read n bytes' length field at *p (n = 1 or 2) and step over it and the
 * bytes it counts; -1 when they run past end */
static int
tls_skip_vector(const unsigned char **p, const unsigned char *end, int n,
    const unsigned char **data, size_t *len)
{
	size_t l;

	if (end - *p < n)
		return -1;
	l = n == 1 ? (*p)[0] : (size_t)(*p)[0] << 8 | (*p)[1];
	if ((size_t)(end - *p - n) < l)
		return -1;
	*data = *p + n;
	*len = l;
	*p += n + l;
	return 0;
}

/* the first host name a ClientHello's server_name extensions hold */
struct tls_first_name {
	const unsigned char *name;
	size_t len;
};

/* count the host_name entries of one server_name extension's data; arg is
 * a struct tls_first_name */
static int
tls_count_host_names(const unsigned char *p, const unsigned char *end,
    int count, void *arg)
{
	struct tls_first_name *first = arg;
	const unsigned char *list, *lend, *entry;
	size_t llen, elen;

	if (tls_skip_vector(&p, end, 2, &list, &llen) == -1 || p != end)
		return -1;
	for (lend = list + llen; list < lend; ) {
		unsigned type = list[0];

		list++;
		if (tls_skip_vector(&list, lend, 2, &entry, &elen) == -1)
			return -1;
		if (type != 0)		/* host_name(0) is the only type */
			continue;
		if (count++ == 0) {
			first->name = entry;
			first->len = elen;
		}
	}
	return count;
}

/* point *exts at the extensions block of a ClientHello message (*elen 0
 * when it has none); -1 when the message is malformed (*exts NULL) */
static int
tls_hello_extensions(const unsigned char *msg, size_t len,
    const unsigned char **exts, size_t *elen)
{
	const unsigned char *p = msg, *end = msg + len, *v;
	size_t vlen;

	*exts = NULL;
	*elen = 0;
	/* handshake header (type 1, 24-bit length), then client_version and
	 * random, session id, cipher suites, compression methods */
	if (len < 4 + 2 + 32 || msg[0] != 1 ||
	    ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]) != len - 4)
		return -1;
	p += 4 + 2 + 32;
	if (tls_skip_vector(&p, end, 1, &v, &vlen) == -1 ||
	    tls_skip_vector(&p, end, 2, &v, &vlen) == -1 ||
	    tls_skip_vector(&p, end, 1, &v, &vlen) == -1)
		return -1;
	if (p == end) {
		*exts = end;		/* no extensions: an empty block */
		return 0;
	}
	if (tls_skip_vector(&p, end, 2, exts, elen) == -1 || p != end)
		return -1;
	return 0;
}

/* hand the data of every extension of type want in the ClientHello msg to
 * count_ext, with the count so far; the final count, or -1 when msg or an
 * extension is malformed */
static int
tls_hello_count(const unsigned char *msg, size_t len, unsigned want,
    int (*count_ext)(const unsigned char *p, const unsigned char *end,
    int count, void *arg), void *arg)
{
	const unsigned char *v, *exts, *eend;
	size_t vlen;
	int count = 0;

	if (tls_hello_extensions(msg, len, &exts, &vlen) == -1)
		return -1;
	for (eend = exts + vlen; exts < eend; ) {
		unsigned type;

		if (eend - exts < 2)
			return -1;
		type = (unsigned)exts[0] << 8 | exts[1];
		exts += 2;
		if (tls_skip_vector(&exts, eend, 2, &v, &vlen) == -1)
			return -1;
		if (type == want && (count = count_ext(v, v + vlen, count,
		    arg)) == -1)
			return -1;
	}
	return count;
}

int
tls_hello_names(const unsigned char *msg, size_t len,
    const unsigned char **name, size_t *name_len)
{
	struct tls_first_name first = { NULL, 0 };
	int count;

	/* server_name(0) */
	count = tls_hello_count(msg, len, 0, tls_count_host_names, &first);
	*name = first.name;
	*name_len = first.len;
	return count;
}

/* the protocol ALPN names are compared with, and how many matched */
struct tls_alpn_match {
	const char *proto;
	size_t *matching;
};

/* count the names of one ALPN extension's data, and those equal to the
 * protocol arg (a struct tls_alpn_match) names */
static int
tls_count_protocols(const unsigned char *p, const unsigned char *end,
    int count, void *arg)
{
	const struct tls_alpn_match *m = arg;
	const unsigned char *list, *lend, *name;
	size_t llen, nlen, plen = strlen(m->proto);

	if (tls_skip_vector(&p, end, 2, &list, &llen) == -1 || p != end)
		return -1;
	for (lend = list + llen; list < lend; count++) {
		if (tls_skip_vector(&list, lend, 1, &name, &nlen) == -1)
			return -1;
		if (nlen == plen && memcmp(name, m->proto, plen) == 0)
			(*m->matching)++;
	}
	return count;
}

int
tls_hello_alpn(const unsigned char *msg, size_t len, const char *proto,
    size_t *matching)
{
	struct tls_alpn_match m = { proto, matching };

	*matching = 0;
	/* application_layer_protocol_negotiation(16) */
	return tls_hello_count(msg, len, 16, tls_count_protocols, &m);
}

/* refuse the ClientHello with a fatal alert; why is for the log */
static int
tls_refuse(mbedtls_ssl_context *ssl, struct tls_peer *peer, const char *why,
    unsigned char alert, int ret)
{
	peer->refused = why;
	mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
	return ret;
}

/* refuse the ClientHello as naming no server we serve (unrecognized_name) */
static int
tls_refuse_name(mbedtls_ssl_context *ssl, struct tls_peer *peer)
{
	peer->sni_unknown = 1;
	mbedtls_ssl_send_alert_message(ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
	    MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME);
	return MBEDTLS_ERR_SSL_UNRECOGNIZED_NAME;
}

/*
 * TLS-ALPN-01 (RFC 8737): a ClientHello offering only acme-tls/1 gets the
 * challenge certificate stored for its server name (a "mta-sts." name),
 * read from the challenge store now; mbedTLS then selects acme-tls/1, and
 * conn.c closes the connection once the handshake is done. Without SNI or
 * without a pending challenge (or with ACME off: the store is off and
 * nothing is read) it is refused exactly like an unknown SNI.
 */
static int
tls_use_challenge(mbedtls_ssl_context *ssl, struct tls_peer *peer, int n)
{
	struct certkey *ck;

	if (n != 1 || !challenge_enabled() ||
	    name_policy_domain(peer->sni) == NULL ||
	    (ck = challenge_tls_get(peer->sni)) == NULL)
		return tls_refuse_name(ssl, peer);
	peer->challenge = ck;	/* the connection's reference: conn.c drops it */
	if (mbedtls_ssl_set_hs_own_cert(ssl, &ck->chain, &ck->key) != 0)
		return -1;
	return 0;
}

/*
 * The certificate selection, called by mbedTLS once each ClientHello is
 * parsed whole (twice in TLS 1.3 after a HelloRetryRequest). Only
 * "mta-sts.<domain>" for a loaded domain is accepted; anything else fails
 * the handshake with unrecognized_name, and another customer's certificate
 * is never shown. Without SNI the configured default_domain is served; with
 * none configured, no certificate is set and mbedTLS aborts the handshake
 * (handshake_failure).
 *
 * The domain is chosen once, from the first ClientHello, and bound to the
 * connection: a ClientHello with more than one host name (RFC 6066 section
 * 3) and a second ClientHello whose name differs from the first's (RFC 8446
 * section 4.1.2) are refused with illegal_parameter. mbedTLS' own SNI
 * callback sees only the first host_name of each server_name extension and
 * runs again for every extension and every ClientHello, so the names are
 * counted here from the ClientHello itself: the message mbedTLS has just
 * parsed, still in its input buffer (fields private to mbedTLS 3.6). Its
 * ALPN offer is read there too: only acme-tls/1 is a TLS-ALPN-01 validation
 * (tls_use_challenge), which a second ClientHello must not turn into
 * something else.
 */
static int
tls_cert_select(mbedtls_ssl_context *ssl)
{
	struct tls_peer *peer = mbedtls_ssl_get_user_data_p(ssl);
	const struct domain *dom;
	const unsigned char *name;
	const char *domain;
	char sni[sizeof(peer->sni)] = "";
	size_t len, acme;
	int n, a, first = !peer->hello_seen;

	peer->hello_seen = 1;
	n = tls_hello_names(ssl->MBEDTLS_PRIVATE(in_msg),
	    ssl->MBEDTLS_PRIVATE(in_hslen), &name, &len);
	a = tls_hello_alpn(ssl->MBEDTLS_PRIVATE(in_msg),
	    ssl->MBEDTLS_PRIVATE(in_hslen), TLS_ALPN_ACME, &acme);
	if (n == -1 || a == -1)
		return tls_refuse(ssl, peer, "malformed ClientHello",
		    MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR,
		    MBEDTLS_ERR_SSL_DECODE_ERROR);
	if (n > 1)
		return tls_refuse(ssl, peer, "several host names in one "
		    "ClientHello", MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER,
		    MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER);
	if (n == 1 && name_normalise((const char *)name, len, sni,
	    sizeof(sni)) == -1)
		snprintf(sni, sizeof(sni), "(invalid)");
	if (!first) {
		/* the second ClientHello: the name must not change */
		if (strcmp(sni, peer->sni) != 0)
			return tls_refuse(ssl, peer, "the second ClientHello "
			    "names another server than the first",
			    MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER,
			    MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER);
		if ((a > 0 && (size_t)a == acme) != peer->acme_only)
			return tls_refuse(ssl, peer, "the second ClientHello "
			    "offers other ALPN protocols than the first",
			    MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER,
			    MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER);
		return 0;	/* the domain chosen for the first stays */
	}
	memcpy(peer->sni, sni, sizeof(sni));
	peer->acme_only = a > 0 && (size_t)a == acme;
	if (peer->acme_only)
		return tls_use_challenge(ssl, peer, n);
	if (n == 0)
		return peer->snap->default_domain == NULL ? 0 :
		    tls_use_domain(ssl, peer, peer->snap->default_domain);
	if (strcmp(sni, "(invalid)") == 0 ||
	    (domain = name_policy_domain(sni)) == NULL ||
	    (dom = snapshot_find(peer->snap, domain)) == NULL)
		return tls_refuse_name(ssl, peer);
	return tls_use_domain(ssl, peer, dom);
}

int
tls_init(void)
{
	mbedtls_ssl_config_init(&conf);
	conf_ready = 1;
	if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -1;
	mbedtls_ssl_conf_rng(&conf, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE);
	mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(&conf, ciphersuites);
	mbedtls_ssl_conf_groups(&conf, groups);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(&conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
	mbedtls_ssl_conf_tls13_key_exchange_modes(&conf,
	    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
#endif
	if (mbedtls_ssl_conf_alpn_protocols(&conf, alpn) != 0)
		return -1;
	mbedtls_ssl_conf_cert_cb(&conf, tls_cert_select);
	return 0;
}

const mbedtls_ssl_config *
tls_conf(void)
{
	return &conf;
}

void
tls_free(void)
{
	if (conf_ready)
		mbedtls_ssl_config_free(&conf);
	conf_ready = 0;
}

int
tls_send(void *ctx, const unsigned char *buf, size_t len)
{
	int fd = *(int *)ctx;
	ssize_t n;

	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

int
tls_recv(void *ctx, unsigned char *buf, size_t len)
{
	int fd = *(int *)ctx;
	ssize_t n;

	do
		n = recv(fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}


void
tls_bio_init(struct tls_bio *b, int fd)
{
	b->fd = fd;
	b->drained = 0;
	b->off = b->len = 0;
}

void
tls_bio_readable(struct tls_bio *b)
{
	b->drained = 0;
}

int
tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	return tls_send(&((struct tls_bio *)ctx)->fd, buf, len);
}

int
tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_bio *b = ctx;
	ssize_t n;

	if (b->off == b->len) {
		if (b->drained)
			return MBEDTLS_ERR_SSL_WANT_READ;
		/* a large read (a big record's body) goes straight to mbedTLS */
		if (len >= sizeof(b->buf)) {
			n = tls_recv(&b->fd, buf, len);
			if (n >= 0 && (size_t)n < len)
				b->drained = 1;
			else if (n == MBEDTLS_ERR_SSL_WANT_READ)
				b->drained = 1;
			return (int)n;
		}
		n = tls_recv(&b->fd, b->buf, sizeof(b->buf));
		if (n <= 0) {
			if (n == MBEDTLS_ERR_SSL_WANT_READ)
				b->drained = 1;
			return (int)n;	/* 0: the client closed */
		}
		if ((size_t)n < sizeof(b->buf))
			b->drained = 1;
		b->off = 0;
		b->len = (size_t)n;
	}
	if (len > b->len - b->off)
		len = b->len - b->off;
	memcpy(buf, b->buf + b->off, len);
	b->off += len;
	return (int)len;
}

const char *
tls_error_string(int ret, char *buf, size_t len)
{
	mbedtls_strerror(ret, buf, len);
	return buf;
}
