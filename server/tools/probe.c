/* probe.c - fetch a policy over HTTPS the way a sending MTA does (mbedTLS client) */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "certs.h"
#include "httpresp.h"
#include "log.h"
#include "netio.h"

#ifndef MTA_STSD_VERSION
#define MTA_STSD_VERSION "0.0.0"
#endif

#define READ_MAX (HTTPRESP_HEAD_MAX + PROBE_BODY_MAX * 2 + 1024)	/* chunked overhead */

static mbedtls_x509_crt trust;
static mbedtls_ssl_config conf;
static int ready;

/* the start of a fetch, for the seconds it took */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
probe_init(const char *ca_file, char *err, size_t errsz)
{
	const char *path = ca_file != NULL ? ca_file : PROBE_SYSTEM_CA;
	char buf[160];
	int ret;

	probe_done();
	mbedtls_x509_crt_init(&trust);
	mbedtls_ssl_config_init(&conf);
	ready = 1;
	ret = mbedtls_x509_crt_parse_file(&trust, path);
	if (ret < 0 || trust.version == 0) {
		if (ret < 0)
			mbedtls_strerror(ret, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "no certificate in it");
		snprintf(err, errsz, "%s: cannot load trusted certificates: %s%s",
		    path, buf, ca_file == NULL ? " (install ca-certificates, or "
		    "name a file with --ca-file)" : "");
		return -1;
	}
	ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		mbedtls_strerror(ret, buf, sizeof(buf));
		snprintf(err, errsz, "cannot configure TLS: %s", buf);
		return -1;
	}
	/* verify, but finish the handshake anyway, so every problem is seen */
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&conf, &trust, NULL);
	mbedtls_ssl_conf_rng(&conf, mbedtls_psa_get_random,
	    MBEDTLS_PSA_RANDOM_STATE);
	return 0;
}

void
probe_done(void)
{
	if (!ready)
		return;
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&trust);
	ready = 0;
}

void
probe_result_free(struct probe_result *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

/* TCP connect to sa within the deadline (netio.c); what failed in r */
static int
tcp_connect(struct netio *c, const struct sockaddr *sa, socklen_t salen,
    struct probe_result *r)
{
	if (netio_socket(c, sa->sa_family) == -1) {
		snprintf(r->conn_err, sizeof(r->conn_err), "socket: %s",
		    strerror(errno));
		return -1;
	}
	if (netio_connect(c, sa, salen) == 0)
		return 0;
	if (c->timed_out) {
		snprintf(r->conn_err, sizeof(r->conn_err), "no answer within the "
		    "timeout");
		return -1;
	}
	r->conn_errno = errno;
	snprintf(r->conn_err, sizeof(r->conn_err), "%s", strerror(errno));
	return -1;
}

/* what the certificate presented says about itself */
static void
cert_facts(mbedtls_ssl_context *ssl, struct probe_result *r)
{
	const mbedtls_x509_crt *leaf = mbedtls_ssl_get_peer_cert(ssl), *c;
	const mbedtls_x509_sequence *seq;
	size_t used = 0;
	char *p;

	r->verify_flags = mbedtls_ssl_get_verify_result(ssl);
	if (r->verify_flags == (uint32_t)-1)
		r->verify_flags = 0;	/* no certificate was verified */
	if (r->verify_flags != 0) {
		mbedtls_x509_crt_verify_info(r->verify_text,
		    sizeof(r->verify_text), "", r->verify_flags);
		for (p = r->verify_text; *p != '\0'; p++)
			if (*p == '\n')
				*p = p[1] != '\0' ? ';' : '\0';
	}
	if (leaf == NULL)
		return;
	r->have_cert = 1;
	for (c = leaf; c != NULL && c->raw.len > 0; c = c->next)
		r->chain_len++;
	r->self_signed = leaf->issuer_raw.len == leaf->subject_raw.len &&
	    memcmp(leaf->issuer_raw.p, leaf->subject_raw.p,
	    leaf->issuer_raw.len) == 0;
	if (mbedtls_x509_dn_gets(r->leaf_issuer, sizeof(r->leaf_issuer),
	    &leaf->issuer) < 0)
		r->leaf_issuer[0] = '\0';
	for (seq = &leaf->subject_alt_names; seq != NULL; seq = seq->next) {
		if (seq->buf.p == NULL || seq->buf.len == 0 || seq->buf.tag !=
		    (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME))
			continue;
		if (used + seq->buf.len + 3 >= sizeof(r->leaf_names))
			break;
		/* names a server sent reach check's output: made printable */
		used += strlen(log_escape(r->leaf_names + used,
		    sizeof(r->leaf_names) - used, used ? ", " : "", used ? 2 : 0,
		    ""));
		used += strlen(log_escape(r->leaf_names + used,
		    sizeof(r->leaf_names) - used, (const char *)seq->buf.p,
		    seq->buf.len, ""));
	}
	r->not_after = certs_x509_time(&leaf->valid_to);
}

/* copy a header value (or the status line), escaped as the logs are: what
 * a server sends reaches check's output and must not drive a terminal */
static void
escaped(const char *v, size_t n, char *out, size_t outsz)
{
	log_escape(out, outsz, v, n, "");
}

/* the answer's framing, fields and body are read by httpresp.c, the one
 * HTTP response parser (shared with the ACME client); this keeps what
 * check reports */
int
probe_parse_response(const char *buf, size_t len, int eof,
    struct probe_result *r)
{
	struct httpresp h;
	const char *v;
	size_t n;
	int rc = httpresp_parse(buf, len, eof, PROBE_BODY_MAX, 0, &h);

	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	if (h.head_done) {
		r->have_response = 1;
		r->status = h.status;
		escaped(h.line, h.line_len, r->status_line,
		    sizeof(r->status_line));
		r->content_type[0] = r->location[0] = '\0';
		r->has_content_type = 0;
		if ((v = httpresp_field(&h, "Content-Type", &n)) != NULL) {
			escaped(v, n, r->content_type, sizeof(r->content_type));
			r->has_content_type = 1;
		}
		if ((v = httpresp_field(&h, "Location", &n)) != NULL)
			escaped(v, n, r->location, sizeof(r->location));
	}
	if (rc == -1)
		snprintf(r->http_err, sizeof(r->http_err), "%s", h.err);
	else if (rc == 1 && h.too_large)
		r->body_too_large = 1;
	else if (rc == 1) {
		r->body = h.body;
		r->body_len = h.body_len;
		h.body = NULL;
		if (h.truncated)
			snprintf(r->http_err, sizeof(r->http_err), "%s", h.err);
	}
	httpresp_free(&h);
	return rc;
}

/* send the request and read the answer; 0 when complete, -1 otherwise */
static int
http_get(mbedtls_ssl_context *ssl, struct netio *c, const char *host,
    struct probe_result *r)
{
	char req[512], *buf;
	size_t len = 0, off = 0;
	int n, ret, done = 0;

	n = snprintf(req, sizeof(req), "GET " PROBE_PATH " HTTP/1.1\r\n"
	    "Host: %s\r\nUser-Agent: mta-stsd-check/" MTA_STSD_VERSION "\r\n"
	    "Accept: */*\r\nConnection: close\r\n\r\n", host);
	while (off < (size_t)n) {
		ret = mbedtls_ssl_write(ssl, (const unsigned char *)req + off,
		    (size_t)n - off);
		if (ret == MBEDTLS_ERR_SSL_WANT_READ ||
		    ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (ret < 0) {
			char e[120];

			mbedtls_strerror(ret, e, sizeof(e));
			snprintf(r->http_err, sizeof(r->http_err), "%s",
			    c->timed_out ? "timed out sending the request" : e);
			return -1;
		}
		off += (size_t)ret;
	}
	if ((buf = malloc(READ_MAX + 1)) == NULL)
		return -1;
	while (!done) {
		int eof = 0;

		ret = netio_tls_read(ssl, (unsigned char *)buf + len,
		    READ_MAX - len);
		if (ret == 0)
			eof = 1;
		else if (ret < 0) {
			char e[120];

			if (c->timed_out)
				snprintf(r->http_err, sizeof(r->http_err),
				    "no complete answer within the timeout");
			else {
				mbedtls_strerror(ret, e, sizeof(e));
				snprintf(r->http_err, sizeof(r->http_err),
				    "reading the answer: %s", e);
			}
			/* what arrived may still say something (a status) */
			probe_parse_response(buf, len, 0, r);
			free(buf);
			return -1;
		} else
			len += (size_t)ret;
		if (len >= READ_MAX)
			eof = 1;
		buf[len] = '\0';
		ret = probe_parse_response(buf, len, eof, r);
		if (ret == -1) {
			free(buf);
			return -1;
		}
		done = ret == 1;
	}
	free(buf);
	return 0;
}

int
probe_fetch(const struct sockaddr *sa, socklen_t salen, unsigned port,
    const char *host, unsigned timeout, struct probe_result *r)
{
	struct sockaddr_storage ss;
	mbedtls_ssl_context ssl;
	struct netio c = { .fd = -1 };
	double start = now();
	char host_ip[INET6_ADDRSTRLEN];
	int ret, rc = -1;

	memset(r, 0, sizeof(*r));
	memcpy(&ss, sa, salen);
	if (ss.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host_ip, sizeof(host_ip));
		snprintf(r->addr, sizeof(r->addr), "[%s]", host_ip);
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host_ip, sizeof(host_ip));
		snprintf(r->addr, sizeof(r->addr), "%s", host_ip);
	}
	netio_deadline_in(&c, timeout > 0 ? timeout : 1);

	mbedtls_ssl_init(&ssl);
	if (tcp_connect(&c, (struct sockaddr *)&ss, salen, r) == -1)
		goto out;
	r->connected = 1;
	if ((ret = mbedtls_ssl_setup(&ssl, &conf)) != 0 ||
	    (ret = mbedtls_ssl_set_hostname(&ssl, host)) != 0) {
		mbedtls_strerror(ret, r->tls_err, sizeof(r->tls_err));
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &c, netio_bio_send, netio_bio_recv, NULL);
	while ((ret = mbedtls_ssl_handshake(&ssl)) != 0) {
		if (ret == MBEDTLS_ERR_SSL_WANT_READ ||
		    ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (c.timed_out)
			snprintf(r->tls_err, sizeof(r->tls_err), "the TLS "
			    "handshake did not finish within the timeout");
		else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
			snprintf(r->tls_err, sizeof(r->tls_err), "the server "
			    "ended the handshake with a fatal alert (does it "
			    "have a certificate for this name?)");
		else if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == 0 ||
		    ret == MBEDTLS_ERR_NET_CONN_RESET)
			snprintf(r->tls_err, sizeof(r->tls_err), "the server "
			    "closed the connection during the handshake (is it "
			    "speaking TLS on this port?)");
		else
			mbedtls_strerror(ret, r->tls_err, sizeof(r->tls_err));
		cert_facts(&ssl, r);
		goto out;
	}
	r->handshake_ok = 1;
	snprintf(r->tls_version, sizeof(r->tls_version), "%s",
	    mbedtls_ssl_get_version(&ssl));
	cert_facts(&ssl, r);
	if (http_get(&ssl, &c, host, r) == 0)
		rc = 0;
	mbedtls_ssl_close_notify(&ssl);
out:
	r->timed_out = c.timed_out;
	r->seconds = now() - start;
	mbedtls_ssl_free(&ssl);
	if (c.fd != -1)
		close(c.fd);
	return rc;
}
