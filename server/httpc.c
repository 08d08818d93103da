/* httpc.c - HTTPS/1.1 client over mbedTLS for the ACME client, and its response parser */
#include "httpc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "httpresp.h"
#include "netio.h"

#ifndef MTA_STSD_VERSION
#define MTA_STSD_VERSION "0.0.0"
#endif

/* what is read before giving up on an answer: the head, the body, and the
 * chunked framing of a body sent in small chunks */
#define READ_MAX (HTTPRESP_HEAD_MAX + 2 * HTTPC_BODY_MAX + 4096)

struct httpc {
	char *ca_path;			/* for messages */
	mbedtls_x509_crt trust;
	mbedtls_ssl_config conf;
	unsigned timeout_s;
};

/* one connection: the socket and the deadline of the current step */
struct conn {
	struct netio io;
	/* an IP-literal URL: the address the certificate must name */
	unsigned char ip[16];
	size_t ip_len;
};

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct httpc *
httpc_new(const char *ca_file, unsigned timeout_s, char *err, size_t errlen)
{
	const char *path = ca_file != NULL ? ca_file : HTTPC_SYSTEM_CA;
	struct httpc *c;
	char buf[160];
	int ret;

	if ((ret = (int)psa_crypto_init()) != PSA_SUCCESS) {
		errf(err, errlen, "cannot start the PSA crypto library "
		    "(status %d)", ret);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		errf(err, errlen, "out of memory for an HTTPS client");
		return NULL;
	}
	c->timeout_s = timeout_s > 0 ? timeout_s : HTTPC_TIMEOUT_DEFAULT;
	mbedtls_x509_crt_init(&c->trust);
	mbedtls_ssl_config_init(&c->conf);
	if ((c->ca_path = strdup(path)) == NULL) {
		errf(err, errlen, "out of memory for an HTTPS client");
		httpc_free(c);
		return NULL;
	}
	ret = mbedtls_x509_crt_parse_file(&c->trust, path);
	if (ret < 0 || c->trust.version == 0) {
		if (ret < 0)
			mbedtls_strerror(ret, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "no certificate in it");
		errf(err, errlen, "%s: cannot load trusted certificates: %s%s",
		    path, buf, ca_file == NULL ? " (install ca-certificates, or "
		    "set ca_file)" : " (it must hold PEM certificates)");
		httpc_free(c);
		return NULL;
	}
	ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		mbedtls_strerror(ret, buf, sizeof(buf));
		errf(err, errlen, "cannot configure TLS: %s", buf);
		httpc_free(c);
		return NULL;
	}
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->trust, NULL);
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE);
	return c;
}

void
httpc_free(struct httpc *c)
{
	if (c == NULL)
		return;
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->trust);
	free(c->ca_path);
	free(c);
}

void
httpc_resp_free(struct httpc_resp *r)
{
	free(r->body);
	free(r->nonce);
	free(r->location);
	free(r->content_type);
	for (size_t i = 0; i < r->nlinks && i < HTTPC_LINKS_MAX; i++) {
		free(r->links[i].url);
		free(r->links[i].rel);
	}
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
}

/* a host name's bytes: letters, digits, '-', '.', '_' */
static int
host_name_ok(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && strchr("-._", h[i]) == NULL)
			return 0;
	return 1;
}

int
httpc_url_parse(const char *url, struct httpc_url *u, char *err,
    size_t errlen)
{
	const char *a, *ae, *h, *he, *p, *pe;
	unsigned char addr[16];
	char tmp[256];

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) != 0) {
		errf(err, errlen, "the URL must start with https://");
		return -1;
	}
	a = url + 8;
	ae = a + strcspn(a, "/?#");
	for (p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			errf(err, errlen, "the URL holds a blank, control or "
			    "non-ASCII byte (0x%02x); percent-encode it",
			    (unsigned char)*p);
			return -1;
		}
	}
	if (memchr(a, '@', (size_t)(ae - a)) != NULL) {
		errf(err, errlen, "the URL names a user (user@host): give the "
		    "host alone");
		return -1;
	}
	h = a;
	if (*h == '[') {
		he = memchr(h, ']', (size_t)(ae - h));
		if (he == NULL || (size_t)(he - h - 1) >= sizeof(tmp)) {
			errf(err, errlen, "the URL's [IPv6 address] has no "
			    "closing bracket");
			return -1;
		}
		memcpy(tmp, h + 1, (size_t)(he - h - 1));
		tmp[he - h - 1] = '\0';
		if (inet_pton(AF_INET6, tmp, addr) != 1) {
			errf(err, errlen, "[%s] in the URL is not an IPv6 address",
			    tmp);
			return -1;
		}
		memcpy(u->host, tmp, strlen(tmp) + 1);
		u->ipv6 = 1;
		he++;
	} else {
		he = memchr(h, ':', (size_t)(ae - h));
		if (he == NULL)
			he = ae;
		if (!host_name_ok(h, (size_t)(he - h))) {
			errf(err, errlen, "the URL's host is not a host name, "
			    "IPv4 address or [IPv6 address]");
			return -1;
		}
		memcpy(u->host, h, (size_t)(he - h));
		u->host[he - h] = '\0';
	}
	u->port = 443;
	if (he < ae) {
		unsigned long port = 0;

		if (*he != ':' || he + 1 == ae || ae - he > 6) {
			errf(err, errlen, "the URL's port must follow the host "
			    "as :1 to :65535");
			return -1;
		}
		for (p = he + 1; p < ae; p++) {
			if (*p < '0' || *p > '9')
				break;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (p < ae || port == 0 || port > 65535) {
			errf(err, errlen, "the URL's port must follow the host "
			    "as :1 to :65535");
			return -1;
		}
		u->port = (unsigned)port;
	}
	/* path and query; the fragment is the client's own */
	p = ae;
	pe = p + strcspn(p, "#");
	if ((size_t)(pe - p) + 2 > sizeof(u->path)) {
		errf(err, errlen, "the URL's path is longer than %zu bytes",
		    sizeof(u->path) - 2);
		return -1;
	}
	snprintf(u->path, sizeof(u->path), "%s%.*s", *p == '/' ? "" : "/",
	    (int)(pe - p), p);
	return 0;
}

/* a copy of s[0..n), or NULL (out of memory) */
static char *
dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* a Replay-Nonce value is base64url (RFC 8555 section 6.5.1): else ignored */
static int
nonce_ok(const char *v, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_')
			return 0;
	return 1;
}

/* the Link fields of h into r (a malformed one is ignored); 0 or -1 */
static int
links(const struct httpresp *h, struct httpc_resp *r)
{
	for (size_t i = 0; i < h->nfields && r->nlinks < HTTPC_LINKS_MAX; i++) {
		const struct httpresp_field *f = &h->fields[i];
		struct httpresp_link l[HTTPC_LINKS_MAX];
		int n;

		if (f->name_len != 4 || strncasecmp(f->name, "Link", 4) != 0)
			continue;
		n = httpresp_links(f->value, f->value_len, l,
		    HTTPC_LINKS_MAX - r->nlinks);
		for (int k = 0; k < n && r->nlinks < HTTPC_LINKS_MAX; k++) {
			char *url = dup_n(l[k].url, l[k].url_len);
			char *rel = dup_n(l[k].rel, l[k].rel_len);

			if (url == NULL || rel == NULL) {
				free(url);
				free(rel);
				return -1;
			}
			for (char *q = rel; *q != '\0'; q++)
				*q = (char)tolower((unsigned char)*q);
			r->links[r->nlinks].url = url;
			r->links[r->nlinks].rel = rel;
			r->nlinks++;
		}
	}
	return 0;
}

/* the fields ACME reads, from a complete h into r (which takes h's body) */
static int
extract(struct httpresp *h, struct httpc_resp *r)
{
	const char *v;
	size_t n;

	r->status = h->status;
	r->body = h->body;
	r->body_len = h->body_len;
	h->body = NULL;
	if ((v = httpresp_field(h, "Replay-Nonce", &n)) != NULL &&
	    nonce_ok(v, n) && (r->nonce = dup_n(v, n)) == NULL)
		return -1;
	if ((v = httpresp_field(h, "Location", &n)) != NULL &&
	    (r->location = dup_n(v, n)) == NULL)
		return -1;
	if ((v = httpresp_field(h, "Content-Type", &n)) != NULL &&
	    (r->content_type = dup_n(v, n)) == NULL)
		return -1;
	if ((v = httpresp_field(h, "Retry-After", &n)) != NULL)
		r->retry_after = httpresp_retry_after(v, n, time(NULL));
	return links(h, r);
}

/* httpc_parse with the flags of the request (HTTPRESP_NO_BODY for HEAD)
 * and the reason of a -1 in err */
static int
parse_resp(const char *buf, size_t len, int eof, unsigned flags,
    struct httpc_resp *r, char *err, size_t errlen)
{
	struct httpresp h;
	int rc;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	rc = httpresp_parse(buf, len, eof, HTTPC_BODY_MAX, flags, &h);
	if (rc == 1 && h.too_large) {
		errf(err, errlen, "the body of the answer is larger than %d "
		    "bytes", HTTPC_BODY_MAX);
		rc = -1;
	} else if (rc == 1 && h.truncated) {
		errf(err, errlen, "%s", h.err);
		rc = -1;
	} else if (rc == -1)
		errf(err, errlen, "%s", h.err);
	else if (rc == 1 && extract(&h, r) == -1) {
		errf(err, errlen, "out of memory for the answer");
		httpc_resp_free(r);
		rc = -1;
	}
	httpresp_free(&h);
	return rc;
}

int
httpc_parse(const char *buf, size_t len, int eof, struct httpc_resp *r)
{
	char err[8];

	return parse_resp(buf, len, eof, 0, r, err, sizeof(err));
}

/* resolve u and connect to its addresses in turn, sharing timeout_s among
 * those left; 0, or -1 with err */
static int
dial(struct conn *c, const struct httpc_url *u, unsigned timeout_s,
    char *err, size_t errlen)
{
	/* no AI_ADDRCONFIG: it drops ::1 where loopback is the only IPv6
	 * address (a test's network namespace); an address of a family the
	 * host cannot reach fails at once (ENETUNREACH) and the next is tried */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8], where[INET6_ADDRSTRLEN + 16];
	struct netio all = { .fd = -1 };
	unsigned char v4[4];
	size_t left = 0;
	int rc;

	snprintf(port, sizeof(port), "%u", u->port);
	if (u->ipv6 || inet_pton(AF_INET, u->host, v4) == 1)
		hints.ai_flags = AI_NUMERICHOST;
	if ((rc = getaddrinfo(u->host, port, &hints, &res)) != 0) {
		errf(err, errlen, "cannot resolve %s: %s", u->host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		left++;
	netio_deadline_in(&all, timeout_s);
	errf(err, errlen, "%s has no address to connect to", u->host);
	for (ai = res; ai != NULL; ai = ai->ai_next, left--) {
		double share = (double)netio_ms_left(&all) / 1000.0 / (double)left;

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, where,
		    sizeof(where), NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(where, sizeof(where), "?");
		if (share <= 0) {
			errf(err, errlen, "connecting to %s port %u: no "
			    "connection within %u s", where, u->port, timeout_s);
			break;
		}
		netio_deadline_in(&c->io, share);
		if (netio_socket(&c->io, ai->ai_family) == 0 &&
		    netio_connect(&c->io, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			return 0;
		}
		errf(err, errlen, "connecting to %s port %u: %s", where,
		    u->port, errno == ETIMEDOUT ? "no answer within the "
		    "timeout" : strerror(errno));
	}
	freeaddrinfo(res);
	return -1;
}

/* an IP-literal URL: the leaf certificate must name that address (mbedTLS
 * checks a name given as the SNI host; an address is no SNI host) */
static int
verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct conn *c = ctx;
	const mbedtls_x509_sequence *s;

	if (depth != 0)
		return 0;
	for (s = &crt->subject_alt_names; s != NULL; s = s->next)
		if (s->buf.p != NULL && s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		    MBEDTLS_X509_SAN_IP_ADDRESS) && s->buf.len == c->ip_len &&
		    memcmp(s->buf.p, c->ip, c->ip_len) == 0)
			return 0;
	*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

/* the TLS handshake within timeout_s; 0, or -1 with err */
static int
handshake(mbedtls_ssl_context *ssl, struct httpc *hc, struct conn *c,
    const struct httpc_url *u, char *err, size_t errlen)
{
	char e[160];
	int ret;

	if ((ret = mbedtls_ssl_setup(ssl, &hc->conf)) != 0)
		goto fail;
	if (u->ipv6 || inet_pton(AF_INET, u->host, c->ip) == 1) {
		c->ip_len = u->ipv6 ? 16 : 4;
		if (u->ipv6)
			inet_pton(AF_INET6, u->host, c->ip);
		/* no SNI for an address (RFC 6066); its check is verify_ip */
		ret = mbedtls_ssl_set_hostname(ssl, NULL);
		mbedtls_ssl_set_verify(ssl, verify_ip, c);
	} else
		ret = mbedtls_ssl_set_hostname(ssl, u->host);
	if (ret != 0)
		goto fail;
	mbedtls_ssl_set_bio(ssl, &c->io, netio_bio_send, netio_bio_recv, NULL);
	netio_deadline_in(&c->io, hc->timeout_s);
	while ((ret = mbedtls_ssl_handshake(ssl)) != 0) {
		uint32_t flags;

		if (ret == MBEDTLS_ERR_SSL_WANT_READ ||
		    ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (c->io.timed_out) {
			errf(err, errlen, "the TLS handshake did not finish "
			    "within %u s", hc->timeout_s);
			return -1;
		}
		flags = mbedtls_ssl_get_verify_result(ssl);
		if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 &&
		    flags != (uint32_t)-1) {
			char info[400], *q;

			mbedtls_x509_crt_verify_info(info, sizeof(info), "",
			    flags);
			for (q = info; *q != '\0'; q++)
				if (*q == '\n')
					*q = q[1] != '\0' ? ';' : '\0';
			errf(err, errlen, "the server's certificate is not "
			    "accepted: %s (trusting %s)", info, hc->ca_path);
			return -1;
		}
		if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret ==
		    MBEDTLS_ERR_NET_CONN_RESET) {
			errf(err, errlen, "the server closed the connection "
			    "during the TLS handshake (is it speaking TLS on "
			    "port %u?)", u->port);
			return -1;
		}
		goto fail;
	}
	return 0;
fail:
	mbedtls_strerror(ret, e, sizeof(e));
	errf(err, errlen, "TLS: %s", e);
	return -1;
}

/* a header value the request may carry: printable, no line break */
static int
header_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* the request's bytes, malloc'd, length in *len; NULL with err */
static char *
request_bytes(const char *method, const struct httpc_url *u,
    const char *content_type, const char *body, size_t body_len,
    size_t *len, char *err, size_t errlen)
{
	char hostport[300], clen[64] = "";
	char *req;
	int n;

	if (u->port == 443)
		snprintf(hostport, sizeof(hostport), u->ipv6 ? "[%s]" : "%s",
		    u->host);
	else
		snprintf(hostport, sizeof(hostport), u->ipv6 ? "[%s]:%u" :
		    "%s:%u", u->host, u->port);
	if (body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n",
		    body != NULL ? body_len : 0);
	else
		body_len = 0;
	n = snprintf(NULL, 0, "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: mta-stsd/" MTA_STSD_VERSION "\r\nAccept: */*\r\n"
	    "Accept-Encoding: identity\r\n%s%s%s%sConnection: close\r\n\r\n",
	    method, u->path, hostport, content_type ? "Content-Type: " : "",
	    content_type ? content_type : "", content_type ? "\r\n" : "", clen);
	if (n < 0 || (req = malloc((size_t)n + body_len + 1)) == NULL) {
		errf(err, errlen, "out of memory for the request");
		return NULL;
	}
	snprintf(req, (size_t)n + 1, "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: mta-stsd/" MTA_STSD_VERSION "\r\nAccept: */*\r\n"
	    "Accept-Encoding: identity\r\n%s%s%s%sConnection: close\r\n\r\n",
	    method, u->path, hostport, content_type ? "Content-Type: " : "",
	    content_type ? content_type : "", content_type ? "\r\n" : "", clen);
	if (body_len > 0)
		memcpy(req + n, body, body_len);
	*len = (size_t)n + body_len;
	return req;
}

/* write all of buf; 0, or -1 with err */
static int
send_all(mbedtls_ssl_context *ssl, const struct conn *c, const char *buf,
    size_t len, char *err, size_t errlen)
{
	size_t off = 0;

	while (off < len) {
		int ret = mbedtls_ssl_write(ssl, (const unsigned char *)buf + off,
		    len - off);
		char e[120];

		if (ret == MBEDTLS_ERR_SSL_WANT_READ ||
		    ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
		    ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
		if (ret < 0) {
			mbedtls_strerror(ret, e, sizeof(e));
			errf(err, errlen, "sending the request: %s", c->io.timed_out ?
			    "timed out" : e);
			return -1;
		}
		off += (size_t)ret;
	}
	return 0;
}

/* read and parse the answer until it is complete; 0, or -1 with err */
static int
receive(mbedtls_ssl_context *ssl, struct conn *c, unsigned flags,
    unsigned timeout_s, struct httpc_resp *r, char *err, size_t errlen)
{
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *nb;
	int rc = 0;

	if (buf == NULL) {
		errf(err, errlen, "out of memory for the answer");
		return -1;
	}
	while (rc == 0) {
		int ret, eof = 0;

		if (len == cap) {
			if (cap >= READ_MAX) {
				errf(err, errlen, "the answer is larger than %d "
				    "bytes", READ_MAX);
				rc = -1;
				break;
			}
			cap = cap * 2 < READ_MAX ? cap * 2 : READ_MAX;
			if ((nb = realloc(buf, cap)) == NULL) {
				errf(err, errlen, "out of memory for the answer");
				rc = -1;
				break;
			}
			buf = nb;
		}
		ret = netio_tls_read(ssl, (unsigned char *)buf + len, cap - len);
		if (ret == 0)
			eof = 1;
		else if (ret < 0) {
			char e[120];

			if (c->io.timed_out)
				errf(err, errlen, "no complete answer within "
				    "%u s (%zu bytes came)", timeout_s, len);
			else {
				mbedtls_strerror(ret, e, sizeof(e));
				errf(err, errlen, "reading the answer: %s", e);
			}
			rc = -1;
			break;
		} else
			len += (size_t)ret;
		rc = parse_resp(buf, len, eof, flags, r, err, errlen);
		if (rc == 0 && eof) {
			/* httpresp_parse never asks for more after the close */
			errf(err, errlen, "the answer ended early");
			rc = -1;
		}
	}
	free(buf);
	return rc == 1 ? 0 : -1;
}

/* a Location or Link target that is an absolute path ("/x", not "//x"),
 * made a URL of the server u names; 0 or -1 */
static int
absolute(char **target, const struct httpc_url *u)
{
	char *full;
	int n;

	if (*target == NULL || (*target)[0] != '/' || (*target)[1] == '/')
		return 0;
	n = u->port == 443 ?
	    asprintf(&full, u->ipv6 ? "https://[%s]%s" : "https://%s%s",
	    u->host, *target) :
	    asprintf(&full, u->ipv6 ? "https://[%s]:%u%s" : "https://%s:%u%s",
	    u->host, u->port, *target);
	if (n < 0)
		return -1;
	free(*target);
	*target = full;
	return 0;
}

int
httpc_request(struct httpc *hc, const char *method, const char *url,
    const char *content_type, const char *body, size_t body_len,
    struct httpc_resp *r, char *err, size_t errlen)
{
	struct conn c = { .io.fd = -1 };
	mbedtls_ssl_context ssl;
	struct httpc_url u;
	char why[300], *req = NULL;
	size_t req_len;
	unsigned flags = strcmp(method, "HEAD") == 0 ? HTTPRESP_NO_BODY : 0;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	if (httpc_url_parse(url, &u, why, sizeof(why)) == -1) {
		char shown[120];
		size_t i;

		/* the URL as far as it is printable */
		for (i = 0; i + 1 < sizeof(shown) && (unsigned char)url[i] > 0x20 &&
		    (unsigned char)url[i] < 0x7f; i++)
			shown[i] = url[i];
		shown[i] = '\0';
		errf(err, errlen, "%s%s: %s", shown, url[i] != '\0' ? "..." : "",
		    why);
		return -1;
	}
	if (method[0] == '\0' || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
	    strlen(method) || (content_type != NULL && !header_ok(content_type))) {
		errf(err, errlen, "%s: the method must be upper-case letters and "
		    "the Content-Type printable", url);
		return -1;
	}
	if ((req = request_bytes(method, &u, content_type, body, body_len,
	    &req_len, why, sizeof(why))) == NULL) {
		errf(err, errlen, "%s: %s", url, why);
		return -1;
	}
	mbedtls_ssl_init(&ssl);
	if (dial(&c, &u, hc->timeout_s, why, sizeof(why)) == -1 ||
	    handshake(&ssl, hc, &c, &u, why, sizeof(why)) == -1)
		goto out;
	netio_deadline_in(&c.io, hc->timeout_s);
	if (send_all(&ssl, &c, req, req_len, why, sizeof(why)) == -1 ||
	    receive(&ssl, &c, flags, hc->timeout_s, r, why, sizeof(why)) == -1)
		goto out;
	if (absolute(&r->location, &u) == -1) {
		snprintf(why, sizeof(why), "out of memory for the answer");
		goto out;
	}
	for (size_t i = 0; i < r->nlinks; i++) {
		if (absolute(&r->links[i].url, &u) == -1) {
			snprintf(why, sizeof(why), "out of memory for the answer");
			goto out;
		}
	}
	mbedtls_ssl_close_notify(&ssl);
	rc = 0;
out:
	if (rc == -1) {
		httpc_resp_free(r);
		errf(err, errlen, "%s %s: %s", method, url, why);
	}
	mbedtls_ssl_free(&ssl);
	if (c.io.fd != -1)
		close(c.io.fd);
	free(req);
	return rc;
}
