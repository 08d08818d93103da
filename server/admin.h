/* admin.h - the plain-HTTP admin listener: /healthz, /readyz, /metrics */
#ifndef MTA_STSD_ADMIN_H
#define MTA_STSD_ADMIN_H

#include "config.h"

struct loop;

/*
 * Start the admin listener on cfg->admin (nothing when admin_listen is off),
 * a libmicrohttpd daemon of its own, plain HTTP. Called before privileges
 * are dropped. Returns 0 or -1 (logged).
 */
int admin_start(const struct config *cfg);

/* Apply the keys of a new configuration /metrics reads (metrics_per_domain). */
void admin_configure(const struct config *cfg);

/* Drive the admin daemon from loop (its descriptor and timer register
 * there); nothing when admin_listen is off. Returns 0 or -1. */
int admin_attach(struct loop *loop);

/* The loop says whether the TLS listeners accept (a snapshot is loaded and
 * nothing stops them): /readyz answers 200 while ready is 1, else 503. */
void admin_set_ready(int ready);

/* Stop the admin daemon. */
void admin_stop(void);

#endif
