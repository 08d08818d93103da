/* mhdloop.h - a libmicrohttpd daemon (MHD_USE_EPOLL) driven by one thread's loop */
#ifndef MTA_STSD_MHDLOOP_H
#define MTA_STSD_MHDLOOP_H

#include "loop.h"

struct MHD_Daemon;

/*
 * Drive d from loop, as http.c, admin.c and http01.c do with their daemons:
 * d's epoll descriptor registers as lf (EPOLLIN), and hook bounds the
 * loop's wait by d's next timeout and runs d after every turn's events.
 * The caller keeps lf and hook (registered until the loop is freed) and d
 * until then. what names the listener in the log ("admin_listen").
 * Returns 0, or -1 (logged).
 */
int mhdloop_attach(struct loop *loop, struct MHD_Daemon *d, struct loop_fd *lf,
    struct loop_hook *hook, const char *what);

#endif
