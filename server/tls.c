/* tls.c - the mbedTLS server configuration and the certificate selection */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/psa_util.h>

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

static const char *alpn[] = { "http/1.1", NULL };

/* offer every certificate of the domain; mbedTLS picks by what the client
 * supports (ECDSA or RSA) */
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

/*
 * The SNI callback. Only "mta-sts.<domain>" for a loaded domain is accepted;
 * anything else fails the handshake, and mbedTLS then sends the
 * unrecognized_name alert. Another customer's certificate is never shown.
 */
static int
tls_sni(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name,
    size_t len)
{
	struct tls_peer *peer = mbedtls_ssl_get_user_data_p(ssl);
	const struct domain *dom;
	const char *domain;

	(void)arg;
	if (name_normalise((const char *)name, len, peer->sni,
	    sizeof(peer->sni)) == -1) {
		snprintf(peer->sni, sizeof(peer->sni), "(invalid)");
		peer->sni_unknown = 1;
		return -1;
	}
	if ((domain = name_policy_domain(peer->sni)) == NULL ||
	    (dom = snapshot_find(peer->snap, domain)) == NULL) {
		peer->sni_unknown = 1;
		return -1;
	}
	return tls_use_domain(ssl, peer, dom);
}

/*
 * Called once the ClientHello is parsed, with or without SNI. Without SNI the
 * configured default_domain is served; with none configured, no certificate
 * is set and mbedTLS aborts the handshake (handshake_failure).
 */
static int
tls_cert_select(mbedtls_ssl_context *ssl)
{
	struct tls_peer *peer = mbedtls_ssl_get_user_data_p(ssl);

	peer->hello_seen = 1;
	if (peer->domain != NULL || peer->sni_unknown)
		return 0;
	if (peer->snap->default_domain != NULL)
		return tls_use_domain(ssl, peer, peer->snap->default_domain);
	return 0;
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
	mbedtls_ssl_conf_sni(&conf, tls_sni, NULL);
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
