/* http01.h - the plain-HTTP listener answering ACME HTTP-01 challenges (http_listen) */
#ifndef MTA_STSD_HTTP01_H
#define MTA_STSD_HTTP01_H

#include "config.h"
#include "loop.h"

struct MHD_Daemon;

/* One HTTP-01 listener; the caller keeps it (zeroed, then http01_start)
 * and passes it to every call. */
struct http01 {
	struct MHD_Daemon *daemon;	/* NULL: not listening */
	struct loop_fd lf;		/* libmicrohttpd's epoll set */
	struct loop_hook hook;
};

/*
 * Start the HTTP-01 listener h on cfg->acme.http_listen, a libmicrohttpd
 * daemon of its own, plain HTTP: only when ACME is on ([acme] directory set)
 * and http_listen is not off; nothing otherwise. Called before privileges
 * are dropped (port 80). Returns 0 or -1 (logged).
 */
int http01_start(struct http01 *h, const struct config *cfg);

/* Drive h's daemon from loop (its descriptor and timer register there);
 * nothing when it is not listening. Returns 0 or -1 (logged). */
int http01_attach(struct http01 *h, struct loop *loop);

/* Stop h's daemon (nothing when it is not listening; h may be started again). */
void http01_stop(struct http01 *h);

#endif
