/* http01.h - the plain-HTTP listener answering ACME HTTP-01 challenges (http_listen) */
#ifndef MTA_STSD_HTTP01_H
#define MTA_STSD_HTTP01_H

#include "config.h"

struct loop;

/*
 * Start the HTTP-01 listener on cfg->acme.http_listen, a libmicrohttpd
 * daemon of its own, plain HTTP: only when ACME is on ([acme] directory set)
 * and http_listen is not off; nothing otherwise. Called before privileges
 * are dropped (port 80). Returns 0 or -1 (logged).
 */
int http01_start(const struct config *cfg);

/* Drive the HTTP-01 daemon from loop (its descriptor and timer register
 * there); nothing when it is not running. Returns 0 or -1 (logged). */
int http01_attach(struct loop *loop);

/* Stop the HTTP-01 daemon (nothing when it is not running). */
void http01_stop(void);

#endif
