/* mhdloop.h - a libmicrohttpd daemon driven by one thread's loop; the plain listeners' answer */
#ifndef MTA_STSD_MHDLOOP_H
#define MTA_STSD_MHDLOOP_H

#include "loop.h"

#include <stddef.h>

#include <microhttpd.h>

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

/*
 * Queue the answer status with body[0..len) (mode: libmicrohttpd's memory
 * mode), Content-Type type and Cache-Control: no-store, for the plain-HTTP
 * listeners (admin.c, http01.c). A body of MHD_RESPMEM_MUST_FREE is freed
 * even when no response can be made. Returns libmicrohttpd's verdict.
 */
enum MHD_Result mhdloop_reply(struct MHD_Connection *mc, unsigned status,
    const char *type, void *body, size_t len, enum MHD_ResponseMemoryMode mode);

#endif
