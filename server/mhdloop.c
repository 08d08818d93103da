/* mhdloop.c - a libmicrohttpd daemon (MHD_USE_EPOLL) driven by one thread's loop */
#include "mhdloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "log.h"

/* before the loop waits: libmicrohttpd's next timeout, or -1 */
static long
mhdloop_timeout_ms(void *arg, double now)
{
	struct MHD_Daemon *d = arg;
	MHD_UNSIGNED_LONG_LONG ms;

	(void)now;
	if (MHD_get_timeout(d, &ms) != MHD_YES)
		return -1;
	return ms > 1000000 ? 1000000 : (long)ms;
}

/* after every loop turn's events: libmicrohttpd reads requests and writes
 * responses here (for http.c, the bytes it wrote to a socketpair are
 * picked up by the next epoll round) */
static void
mhdloop_run(void *arg, double now)
{
	(void)now;
	MHD_run(arg);
}

/* libmicrohttpd's epoll set is readable: mhdloop_run, after this turn's
 * events, does the work */
static void
mhdloop_on_event(struct loop_fd *lf, uint32_t events)
{
	(void)lf;
	(void)events;
}

int
mhdloop_attach(struct loop *loop, struct MHD_Daemon *d, struct loop_fd *lf,
    struct loop_hook *hook, const char *what)
{
	const union MHD_DaemonInfo *di;

	if ((di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		log_err("%s: libmicrohttpd has no epoll descriptor", what);
		return -1;
	}
	lf->fd = di->epoll_fd;
	lf->cb = mhdloop_on_event;
	lf->arg = d;
	if (loop_fd_add(loop, lf, EPOLLIN) == -1) {
		log_err("%s: cannot watch libmicrohttpd: %s", what,
		    strerror(errno));
		return -1;
	}
	hook->before = mhdloop_timeout_ms;
	hook->after = mhdloop_run;
	hook->arg = d;
	loop_hook_add(loop, hook);
	return 0;
}

enum MHD_Result
mhdloop_reply(struct MHD_Connection *mc, unsigned status, const char *type,
    void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if ((r = MHD_create_response_from_buffer(len, body, mode)) == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(mc, status, r);
	MHD_destroy_response(r);
	return ret;
}
