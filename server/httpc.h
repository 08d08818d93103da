/* httpc.h - HTTPS/1.1 client over mbedTLS for the ACME client, and its response parser */
#ifndef MTA_STSD_HTTPC_H
#define MTA_STSD_HTTPC_H

#include <stddef.h>

#define HTTPC_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define HTTPC_BODY_MAX (1024 * 1024)	/* a certificate chain is a few KB */
#define HTTPC_LINKS_MAX 8
#define HTTPC_TIMEOUT_DEFAULT 30	/* seconds, when httpc_new is given 0 */

/* One answer. Every pointer is malloc'd (httpc_resp_free frees them) or NULL. */
struct httpc_resp {
	int status;
	char *body; size_t body_len;		/* NUL-terminated ("" when there is none) */
	char *nonce;				/* Replay-Nonce when it is base64url, or NULL */
	char *location;				/* Location, or NULL */
	char *content_type;			/* Content-Type, or NULL */
	long retry_after;			/* seconds (delta or HTTP-date), -1 when absent or invalid */
	struct { char *url; char *rel; } links[HTTPC_LINKS_MAX];	/* rel lower-cased, one type each */
	size_t nlinks;				/* Link: <url>;rel="..." (several fields or comma-separated) */
};

/* a URL httpc_request takes: https://host[:port][/path][?query] */
struct httpc_url {
	char host[256];				/* a name, an IPv4 address, or an IPv6 address without brackets */
	int ipv6;				/* host is an IPv6 literal ([...] in the URL) */
	unsigned port;				/* 443 when the URL names none */
	char path[2048];			/* path and query, "/" when empty; the fragment dropped */
};

struct httpc;				/* a client: trust store, TLS configuration, timeout */

/* A client trusting the certificates in ca_file (PEM), or the system store HTTPC_SYSTEM_CA
 * when NULL; timeout_s bounds each step of a request (0: HTTPC_TIMEOUT_DEFAULT). NULL with
 * err filled when the trust store cannot be loaded. Its requests may run on several threads. */
struct httpc *httpc_new(const char *ca_file, unsigned timeout_s, char *err, size_t errlen);

/* Free a client (NULL is fine). */
void httpc_free(struct httpc *c);

/*
 * One request over a new connection ("Connection: close"): the URL's host
 * resolved, each address tried in turn until one connects (within
 * timeout_s for all), TLS 1.2 or 1.3 with SNI and the certificate verified
 * against the trust store and the host name or IP address (within
 * timeout_s), the request sent with Host, User-Agent mta-stsd/<version>,
 * Content-Type and Content-Length when given, and the whole answer read
 * (within timeout_s). Name resolution is the system's, bounded by
 * resolv.conf's own timeouts. method HEAD reads no body. A Location or
 * Link target that is an absolute path is made a full URL on the same
 * server. 0 with *r filled for any complete answer, whatever its status;
 * -1 with err filled (the URL, the step, what went wrong) and *r holding
 * nothing. No redirect is followed.
 */
int httpc_request(struct httpc *c, const char *method, const char *url,
    const char *content_type, const char *body, size_t body_len,
    struct httpc_resp *r, char *err, size_t errlen);

/* Free what r holds and reset it (r->retry_after -1); harmless on a reset r. */
void httpc_resp_free(struct httpc_resp *r);

/*
 * Pure: parse one complete response in buf[0..len) (eof: nothing more will
 * come): status line, headers, the body by Content-Length, chunked, or to
 * the end when neither (httpresp.c). 1: complete, *r filled; 0: needs more
 * bytes; -1: malformed, a body over HTTPC_BODY_MAX, headers over 16 KiB, or
 * cut short by eof. r is overwritten, not freed first; after 0 and -1 it
 * holds nothing to free. Never reads past len.
 */
int httpc_parse(const char *buf, size_t len, int eof, struct httpc_resp *r);

/* Pure: split url into *u; 0, or -1 with err saying what is wrong (only https://; no user
 * info; a host name, IPv4 address or [IPv6]; port 1-65535; no blank or control byte). */
int httpc_url_parse(const char *url, struct httpc_url *u, char *err, size_t errlen);

#endif
