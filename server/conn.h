/* conn.h - client connections: accept, TLS handshake, the TLS <-> plaintext pump, limits */
#ifndef MTA_STSD_CONN_H
#define MTA_STSD_CONN_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"

struct loop;
struct conns;

/* The limits every worker's connections obey; reloads change them. */
struct conn_limits {
	atomic_uint max_conns;		/* per worker: max_connections shared out */
	atomic_uint max_per_ip;
	atomic_uint handshake_ms, request_ms;
	atomic_uint shutdown_ms;	/* what a stop gives requests in flight */
};

/* Set lim from cfg; the connection limit is shared out among nworkers. */
void conn_limits_apply(struct conn_limits *lim, const struct config *cfg,
    unsigned nworkers);

/*
 * Serve TLS connections on this thread's loop: the listening sockets
 * (borrowed; they are watched once a snapshot is current, so nothing is
 * accepted before there is something to serve), this thread's
 * libmicrohttpd daemon, and every connection accepted. lim is shared with
 * the other workers. With log_limits, one warning line per 10 s gives the
 * counts of connections shed. Returns the worker's connections, or NULL
 * (logged).
 */
struct conns *conns_start(struct loop *loop, const struct config *cfg,
    const struct conn_limits *lim, const int *listeners, size_t nlisteners,
    int log_limits);

/* Are the listeners accepting? (a snapshot is loaded, not stopping, not
 * paused for lack of descriptors) */
int conns_accepting(const struct conns *cs);

/* Stop accepting (the listeners are closed) and, from the next loop turn
 * on, close every connection without a request in flight (after dropping
 * what it sent, with close_notify when open); no new request starts. */
void conns_stop(struct conns *cs);

/* Connections open now. */
size_t conns_count(const struct conns *cs);

/* Close every connection, stop libmicrohttpd, free cs. */
void conns_free(struct conns *cs);

#endif
