/* http.h - the libmicrohttpd daemon and the request handler */
#ifndef MTA_STSD_HTTP_H
#define MTA_STSD_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

struct MHD_Daemon;
struct MHD_Response;
struct domain;
struct http;
struct loop;

#define HTTP_POLICY_PATH "/.well-known/mta-sts.txt"

/* What the request handler may know about, and note on, the connection a
 * request came on. The connection layer keeps one per connection. */
struct http_conn {
	const char *peer;		/* "192.0.2.1" or "2001:db8::1" */
	const char *sni;		/* "" when none was sent */
	const struct domain *domain;	/* selected by SNI or default_domain */
	double started_ms;		/* when the current request's first bytes came */
	unsigned inflight;		/* requests begun and not yet completed */
	int forwarded;			/* request bytes passed on since the last completion */
	unsigned requests;		/* requests begun on this connection */
	int bad_target;			/* the request target decodes to a control byte */
	int in_body;			/* the current request's headers have all been
					 * handed on; the rest waits for its completion */
	int closing;			/* libmicrohttpd closes after this answer */
};

/* How the handler reaches the connections of the layer above, which
 * registers these with http_start (called on the loop's thread). */
struct http_ops {
	/* the connection whose libmicrohttpd-side socket is fd, or NULL
	 * (valid during the call that asked) */
	struct http_conn *(*lookup)(void *arg, int fd);
	/* a request on c completed: more request bytes may go to
	 * libmicrohttpd now (after this turn's libmicrohttpd work) */
	void (*wake)(void *arg, struct http_conn *c);
	void *arg;
};

/*
 * Header fields a request may have (after its request line). The server
 * checks them, with max_header_size, before libmicrohttpd sees a request:
 * its per-connection pool must hold the headers and one record per field,
 * so bounding both lets it be sized to never run out (see http_start).
 */
#define HTTP_MAX_FIELDS 100

/*
 * Write the header lines every answer carries ("Name: value\r\n" each;
 * the same ones libmicrohttpd's answers get) into buf, NUL-terminated, for
 * an answer written without libmicrohttpd. Returns their length, or -1 when
 * they do not fit in len bytes.
 */
int http_common_headers(char *buf, size_t len);

/*
 * Start a libmicrohttpd daemon for one thread's decrypted connections: no
 * listening socket of its own (connections come from http_add), driven by
 * loop (its epoll descriptor and timer register there, and it runs once
 * after every turn's events). ops (copied) lead back to the connections.
 * Returns the daemon with its ready error answers, or NULL (logged).
 */
struct http *http_start(const struct config *cfg, struct loop *loop,
    const struct http_ops *ops);

/*
 * Hand one plaintext socket to libmicrohttpd, with the client's real
 * address. libmicrohttpd owns (and closes) the socket afterwards, also when
 * this fails. Returns 0 or -1.
 */
int http_add(struct http *h, int fd, const struct sockaddr *peer,
    socklen_t peerlen);

/* Apply the keys of a new configuration that libmicrohttpd's side reads
 * (max_requests_per_connection; idle_timeout, for connections accepted
 * from now on), the same for every worker; called by the loop's thread. */
void http_configure(const struct config *cfg);

/* Stop h's libmicrohttpd, closing its connections, and free h (NULL is fine). */
void http_stop(struct http *h);

/* A 200 response holding a copy of a policy, with the headers senders need;
 * NULL when memory runs out. Release with http_response_free. (The builder
 * snapshots use for each domain: see snapshot_set_responder.) */
struct MHD_Response *http_policy_response(const char *text, size_t len);

/* Drop one reference to a response (NULL is fine). */
void http_response_free(struct MHD_Response *r);

#endif
