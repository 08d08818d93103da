/* admin.c - the plain-HTTP admin listener: /healthz, /readyz, /metrics */
#include "admin.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <microhttpd.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"

static struct MHD_Daemon *admin;
static int per_domain;
static atomic_int ready;		/* pushed by the loop: admin_set_ready */
static struct loop_fd admin_lf = { .fd = -1 };	/* libmicrohttpd's epoll set */
static struct loop_hook admin_hook;

static enum MHD_Result
admin_reply(struct MHD_Connection *mc, unsigned status, const char *type,
    void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if ((r = MHD_create_response_from_buffer(len, body, mode)) == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(mc, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * GET /healthz: 200 whenever the event loop turns (this handler runs on it).
 * GET /readyz: 200 when a snapshot is loaded and the TLS listeners accept,
 * else 503. GET /metrics: the Prometheus text format.
 */
static enum MHD_Result
admin_handle(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	static int marker;
	static char ok[] = "ok\n", notready[] = "not ready\n",
	    notfound[] = "not found: try /healthz, /readyz or /metrics\n",
	    badmethod[] = "method not allowed\n";
	const char *text = "text/plain; charset=utf-8";

	(void)cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	if (*req_cls == NULL) {
		*req_cls = &marker;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return admin_reply(mc, MHD_HTTP_METHOD_NOT_ALLOWED, text, badmethod,
		    strlen(badmethod), MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/healthz") == 0)
		return admin_reply(mc, MHD_HTTP_OK, text, ok, strlen(ok),
		    MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/readyz") == 0) {
		if (atomic_load(&ready))
			return admin_reply(mc, MHD_HTTP_OK, text, ok, strlen(ok),
			    MHD_RESPMEM_PERSISTENT);
		return admin_reply(mc, MHD_HTTP_SERVICE_UNAVAILABLE, text,
		    notready, strlen(notready), MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(url, "/metrics") == 0) {
		size_t len;
		char *body = metrics_render(per_domain, &len);

		if (body == NULL)
			return MHD_NO;
		return admin_reply(mc, MHD_HTTP_OK,
		    "text/plain; version=0.0.4; charset=utf-8", body, len,
		    MHD_RESPMEM_MUST_FREE);
	}
	return admin_reply(mc, MHD_HTTP_NOT_FOUND, text, notfound,
	    strlen(notfound), MHD_RESPMEM_PERSISTENT);
}

/* Take metrics_per_domain from cfg (the admin listener runs on the loop
 * thread that applies reloads). */
void
admin_configure(const struct config *cfg)
{
	per_domain = cfg->metrics_per_domain;
}

int
admin_start(const struct config *cfg)
{
	admin_configure(cfg);
	if (cfg->admin.len == 0)
		return 0;
	admin = MHD_start_daemon(MHD_USE_EPOLL | (cfg->admin.ss.ss_family ==
	    AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, admin_handle, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->admin.ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	if (admin == NULL) {
		log_err("admin_listen %s: cannot listen (in use, or not an "
		    "address of this host)", cfg->admin.text);
		return -1;
	}
	return 0;
}

/* before the loop waits: libmicrohttpd's next timeout, or -1 */
static long
admin_timeout_ms(void *arg, double now)
{
	MHD_UNSIGNED_LONG_LONG ms;

	(void)arg;
	(void)now;
	if (MHD_get_timeout(admin, &ms) != MHD_YES)
		return -1;
	return ms > 1000000 ? 1000000 : (long)ms;
}

/* after every loop turn: let the admin daemon do what is ready */
static void
admin_run(void *arg, double now)
{
	(void)arg;
	(void)now;
	MHD_run(admin);
}

/* libmicrohttpd's epoll set is readable: admin_run, after this turn's
 * events, does the work */
static void
admin_on_event(struct loop_fd *lf, uint32_t events)
{
	(void)lf;
	(void)events;
}

int
admin_attach(struct loop *loop)
{
	const union MHD_DaemonInfo *di;

	if (admin == NULL)
		return 0;
	if ((di = MHD_get_daemon_info(admin, MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		log_err("admin_listen: libmicrohttpd has no epoll descriptor");
		return -1;
	}
	admin_lf.fd = di->epoll_fd;
	admin_lf.cb = admin_on_event;
	if (loop_fd_add(loop, &admin_lf, EPOLLIN) == -1) {
		log_err("admin_listen: cannot watch libmicrohttpd: %s",
		    strerror(errno));
		return -1;
	}
	admin_hook.before = admin_timeout_ms;
	admin_hook.after = admin_run;
	loop_hook_add(loop, &admin_hook);
	return 0;
}

void
admin_set_ready(int on)
{
	atomic_store(&ready, on);
}

void
admin_stop(void)
{
	if (admin != NULL)
		MHD_stop_daemon(admin);	/* closes its epoll set */
	admin = NULL;
	admin_lf.fd = -1;
}
