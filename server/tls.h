/* tls.h - the mbedTLS server configuration and the certificate selection */
#ifndef MTA_STSD_TLS_H
#define MTA_STSD_TLS_H

#include <mbedtls/ssl.h>

#include "config.h"
#include "names.h"
#include "snapshot.h"

/*
 * What the handshake callbacks need from a connection: the snapshot it
 * holds, and where to record the domain selected. Set on each
 * mbedtls_ssl_context with mbedtls_ssl_set_user_data_p().
 */
struct tls_peer {
	const struct snapshot *snap;
	const struct domain *domain;	/* set by the handshake */
	char sni[NAME_MAX_LEN + 1];	/* as sent, lower case; "" when none */
	int sni_unknown;		/* an SNI was sent that we do not serve */
	int hello_seen;			/* the ClientHello was parsed */
	const char *refused;		/* why a ClientHello was refused, or NULL */
	int acme_only;			/* its ALPN offers acme-tls/1 and nothing else */
	struct certkey *challenge;	/* TLS-ALPN-01: the challenge certificate
					 * presented (one reference), or NULL */
};

/* The ALPN protocol of RFC 8737's TLS-ALPN-01 challenge. */
#define TLS_ALPN_ACME "acme-tls/1"

/*
 * Count the host_name entries in every server_name extension of a
 * ClientHello handshake message (msg: its 4-byte header, then the body) and
 * point *name and *name_len at the first. Returns the count (0 without
 * SNI), or -1 when the message is malformed.
 */
int tls_hello_names(const unsigned char *msg, size_t len,
    const unsigned char **name, size_t *name_len);

/*
 * Count the protocol names in every application_layer_protocol_negotiation
 * extension (RFC 7301) of a ClientHello handshake message (as for
 * tls_hello_names), and in *matching those equal to proto. Returns the count
 * (0 without ALPN), or -1 when the message is malformed.
 */
int tls_hello_alpn(const unsigned char *msg, size_t len, const char *proto,
    size_t *matching);

/*
 * Build the process-wide server configuration: TLS 1.2 and 1.3 only,
 * forward-secret AEAD suites only, no renegotiation, ALPN http/1.1 (then
 * acme-tls/1, chosen only when a client offers nothing else), certificates
 * chosen once per connection by SNI, or a TLS-ALPN-01 challenge certificate
 * (challenge.h) for a ClientHello offering only acme-tls/1. Returns 0 or -1.
 */
int tls_init(void);

/* The configuration built by tls_init. */
const mbedtls_ssl_config *tls_conf(void);

/* Free what tls_init built. */
void tls_free(void);

/* mbedTLS BIO callbacks on a non-blocking socket; ctx points to the fd. */
int tls_send(void *ctx, const unsigned char *buf, size_t len);
int tls_recv(void *ctx, unsigned char *buf, size_t len);

/*
 * A non-blocking socket with a read-ahead buffer, for a level-triggered
 * epoll loop. mbedTLS reads a record as its 5-byte header, then its body:
 * one recv() into the buffer serves both. A recv() that leaves the buffer
 * not full has drained the socket, and no recv() is made again (WANT_READ
 * at once) until tls_bio_readable() says epoll saw the socket readable:
 * no system call only to learn EAGAIN.
 */
#define TLS_BIO_BUF 2048
struct tls_bio {
	int fd;
	int drained;			/* no recv() until tls_bio_readable() */
	size_t off, len;		/* buffered bytes: buf[off..len) */
	unsigned char buf[TLS_BIO_BUF];
};

/* Set up b on fd (no bytes buffered, not drained). */
void tls_bio_init(struct tls_bio *b, int fd);

/* epoll reported b's socket readable (or hung up): recv() may get bytes. */
void tls_bio_readable(struct tls_bio *b);

/* mbedTLS BIO callbacks on a struct tls_bio (ctx). */
int tls_bio_send(void *ctx, const unsigned char *buf, size_t len);
int tls_bio_recv(void *ctx, unsigned char *buf, size_t len);

/* Describe an mbedTLS error code in a short phrase for logs. */
const char *tls_error_string(int ret, char *buf, size_t len);

#endif
