/* probe.h - fetch a policy over HTTPS the way a sending MTA does (mbedTLS client) */
#ifndef MTA_STSD_PROBE_H
#define MTA_STSD_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define PROBE_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define PROBE_PATH "/.well-known/mta-sts.txt"
#define PROBE_BODY_MAX 64000		/* the strictest sender's limit */

/* How far one fetch got, and what it saw on the way. */
struct probe_result {
	char addr[72];			/* "127.0.0.1" or "[::1]", for messages */
	double seconds;			/* from connect to the last byte (or failure) */

	int connected;			/* TCP connection made */
	char conn_err[160];		/* when not */
	int conn_errno;			/* its errno (0: a timeout) */

	int handshake_ok;		/* TLS handshake completed */
	char tls_err[200];		/* when not */
	char tls_version[24];		/* "TLSv1.3" */

	/* the certificate as verified with the trust store and host name */
	int have_cert;
	uint32_t verify_flags;		/* MBEDTLS_X509_BADCERT_*: 0 when valid */
	char verify_text[400];		/* mbedTLS' description of the flags */
	int chain_len;			/* certificates the server sent */
	int self_signed;		/* the leaf is its own issuer */
	char leaf_names[400];		/* the leaf's SAN DNS names, "a, b" */
	char leaf_issuer[200];
	time_t not_after;		/* of the leaf */

	/* the HTTP answer */
	int have_response;		/* a complete status line and headers */
	char http_err[200];		/* why not, or why the body is incomplete */
	int status;
	char status_line[128];
	char location[300];		/* a redirect's target */
	char content_type[300];		/* "" when absent */
	int has_content_type;
	char *body;			/* the full body, NUL-terminated, or NULL */
	size_t body_len;
	int body_too_large;		/* more than PROBE_BODY_MAX bytes */
	int timed_out;			/* the overall timeout struck */
};

/*
 * Load the trust anchors once: ca_file (PEM, may hold several certificates)
 * or, when NULL, the system trust store PROBE_SYSTEM_CA. Returns 0, or -1
 * with the reason in err.
 */
int probe_init(const char *ca_file, char *err, size_t errsz);

/*
 * Fetch https://<host>/.well-known/mta-sts.txt from the address sa (its port
 * is set to port) as a sender would: TCP, TLS with SNI host, the
 * certificate checked against the trust anchors and host, one HTTP/1.1 GET
 * with "Connection: close", no redirect followed. Everything must be done
 * within timeout seconds. Fills *r (free it with probe_result_free); returns
 * 0 when a complete HTTP answer arrived, -1 when the fetch stopped earlier
 * (r says where and why).
 */
int probe_fetch(const struct sockaddr *sa, socklen_t salen, unsigned port,
    const char *host, unsigned timeout, struct probe_result *r);

/*
 * Parse the HTTP answer received so far, buf[0..len), eof when the server
 * has closed: the status line, Content-Type, Location and the body (by
 * Content-Length, chunked, or up to the close) into r, whose earlier body
 * is replaced. Called again as more arrives. Returns 1 when the answer is
 * complete (r->body, when not NULL, is NUL-terminated and at most
 * PROBE_BODY_MAX bytes), 0 when more is needed, -1 on a broken answer
 * (r->http_err says why). The parsing is httpresp_parse's (httpresp.c),
 * the one HTTP response parser. No I/O: tests/fuzz/fuzz_probe.c feeds it
 * anything.
 */
int probe_parse_response(const char *buf, size_t len, int eof,
    struct probe_result *r);

/* Free the body of r. */
void probe_result_free(struct probe_result *r);

/* Free the trust anchors and the TLS configuration. */
void probe_done(void);

#endif
