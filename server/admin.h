/* admin.h - the plain-HTTP admin listener: /healthz, /readyz, /metrics */
#ifndef MTA_STSD_ADMIN_H
#define MTA_STSD_ADMIN_H

#include <stdatomic.h>

#include "config.h"
#include "loop.h"

struct MHD_Daemon;

/* One admin listener; the caller keeps it (zeroed, then admin_start) and
 * passes it to every call. */
struct admin {
	struct MHD_Daemon *daemon;	/* NULL: admin_listen is off */
	int per_domain;			/* metrics_per_domain */
	atomic_int ready;		/* pushed by the loop: admin_set_ready */
	struct loop_fd lf;		/* libmicrohttpd's epoll set */
	struct loop_hook hook;
};

/*
 * Start the admin listener a on cfg->admin (nothing when admin_listen is
 * off), a libmicrohttpd daemon of its own, plain HTTP. Called before
 * privileges are dropped. Returns 0 or -1 (logged).
 */
int admin_start(struct admin *a, const struct config *cfg);

/* Apply the keys of a new configuration /metrics reads (metrics_per_domain). */
void admin_configure(struct admin *a, const struct config *cfg);

/* Drive a's daemon from loop (its descriptor and timer register there);
 * nothing when admin_listen is off. Returns 0 or -1. */
int admin_attach(struct admin *a, struct loop *loop);

/* The loop says whether the TLS listeners accept (a snapshot is loaded and
 * nothing stops them): /readyz answers 200 while ready is 1, else 503. */
void admin_set_ready(struct admin *a, int ready);

/* Stop a's daemon (a may be started again). */
void admin_stop(struct admin *a);

#endif
