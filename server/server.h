/* server.h - the event loop: listeners, connections, the TLS <-> plaintext pump */
#ifndef MTA_STSD_SERVER_H
#define MTA_STSD_SERVER_H

#include "config.h"
#include "snapshot.h"

/* What the HTTP handler may know about, and note on, the connection a
 * request came on. */
struct server_conn_view {
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

/*
 * Bind every listen address of cfg (before privileges are dropped). Errors
 * are logged with the address. Returns 0 or -1.
 */
int server_bind(const struct config *cfg);

/* Are the TLS listeners accepting? (a snapshot is loaded, not stopping) */
int server_accepting(void);

/* Make s current in every worker (the caller's reference passes on). */
void server_publish(struct snapshot *s);

/* Apply the settings a reload may change (limits and timeouts). */
void server_apply(const struct config *cfg);

/*
 * Run the event loop until SIGTERM or SIGINT: accept, handshake, pump, and
 * drive libmicrohttpd. On a stop signal, stop accepting, close every
 * connection without a request in flight at once, give the others
 * shutdown_timeout to finish, then return 0. Returns -1 when the loop
 * cannot start. cfg is read before the loop starts, not after (a reload may
 * free it).
 */
int server_run(const struct config *cfg);

/* Close and free what server_bind made (server_run does it on return). */
void server_release(void);

/*
 * The connection whose libmicrohttpd-side socket is fd, or NULL (called from
 * the request handler, on the loop's thread; valid during that call).
 */
struct server_conn_view *server_conn_lookup(int fd);

/* A request on v's connection completed: pump it after this loop turn's
 * libmicrohttpd work (more request bytes may go to libmicrohttpd now). */
void server_conn_wake(struct server_conn_view *v);

/* Milliseconds on a monotonic clock. */
double server_now_ms(void);

#endif
