/* server.h - the workers: listening sockets, threads, signals, start and stop */
#ifndef MTA_STSD_SERVER_H
#define MTA_STSD_SERVER_H

#include "config.h"

/*
 * Bind every listen address of cfg, once per worker, and the admin listener
 * (before privileges are dropped). Errors are logged with the address.
 * Returns 0 or -1.
 */
int server_bind(const struct config *cfg);

/*
 * Start the workers (worker 0 is this thread) and serve until SIGTERM or
 * SIGINT: the first snapshot is built in the background and the listeners
 * accept once it is published. On a stop signal, stop accepting, close
 * every connection without a request in flight at once, give the others
 * shutdown_timeout to finish, then return 0. Returns -1 when the loop
 * cannot start or the first load fails. cfg is read before the
 * loops start, not after (a reload may free it).
 */
int server_run(const struct config *cfg);

/* Close and free what server_bind made (server_run does it on return). */
void server_release(void);

#endif
