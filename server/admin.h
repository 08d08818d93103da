/* admin.h - the plain-HTTP admin listener: /healthz, /readyz, /metrics */
#ifndef MTA_STSD_ADMIN_H
#define MTA_STSD_ADMIN_H

#include "config.h"

/*
 * Start the admin listener on cfg->admin (nothing when admin_listen is off),
 * a libmicrohttpd daemon of its own, plain HTTP, driven from the event loop
 * through *epoll_fd (-1 when off). Called before privileges are dropped.
 * Returns 0 or -1 (logged).
 */
int admin_start(const struct config *cfg, int *epoll_fd);

/* Apply the keys of a new configuration /metrics reads (metrics_per_domain). */
void admin_configure(const struct config *cfg);

/* Let the admin daemon do the work that is ready; never blocks. */
void admin_run(void);

/* Milliseconds until admin_run is needed again, or -1. */
long admin_timeout_ms(void);

/* Stop the admin daemon. */
void admin_stop(void);

#endif
