/* admin.c - the plain-HTTP admin listener: /healthz, /readyz, /metrics */
#include "admin.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "mhdloop.h"

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
	struct admin *a = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	if (*req_cls == NULL) {
		*req_cls = &marker;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return mhdloop_reply(mc, MHD_HTTP_METHOD_NOT_ALLOWED, text, badmethod,
		    strlen(badmethod), MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/healthz") == 0)
		return mhdloop_reply(mc, MHD_HTTP_OK, text, ok, strlen(ok),
		    MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/readyz") == 0) {
		if (atomic_load(&a->ready))
			return mhdloop_reply(mc, MHD_HTTP_OK, text, ok, strlen(ok),
			    MHD_RESPMEM_PERSISTENT);
		return mhdloop_reply(mc, MHD_HTTP_SERVICE_UNAVAILABLE, text,
		    notready, strlen(notready), MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(url, "/metrics") == 0) {
		size_t len;
		char *body = metrics_render(a->per_domain, &len);

		if (body == NULL)
			return MHD_NO;
		return mhdloop_reply(mc, MHD_HTTP_OK,
		    "text/plain; version=0.0.4; charset=utf-8", body, len,
		    MHD_RESPMEM_MUST_FREE);
	}
	return mhdloop_reply(mc, MHD_HTTP_NOT_FOUND, text, notfound,
	    strlen(notfound), MHD_RESPMEM_PERSISTENT);
}

/* Take metrics_per_domain from cfg (the admin listener runs on the loop
 * thread that applies reloads). */
void
admin_configure(struct admin *a, const struct config *cfg)
{
	a->per_domain = cfg->metrics_per_domain;
}

int
admin_start(struct admin *a, const struct config *cfg)
{
	a->lf.fd = -1;
	admin_configure(a, cfg);
	if (cfg->admin.len == 0)
		return 0;
	a->daemon = MHD_start_daemon(MHD_USE_EPOLL | (cfg->admin.ss.ss_family ==
	    AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, admin_handle, a,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->admin.ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	if (a->daemon == NULL) {
		log_err("admin_listen %s: cannot listen (in use, or not an "
		    "address of this host)", cfg->admin.text);
		return -1;
	}
	return 0;
}

int
admin_attach(struct admin *a, struct loop *loop)
{
	if (a->daemon == NULL)
		return 0;
	return mhdloop_attach(loop, a->daemon, &a->lf, &a->hook,
	    "admin_listen");
}

void
admin_set_ready(struct admin *a, int on)
{
	atomic_store(&a->ready, on);
}

void
admin_stop(struct admin *a)
{
	if (a->daemon != NULL)
		MHD_stop_daemon(a->daemon);	/* closes its epoll set */
	a->daemon = NULL;
	a->lf.fd = -1;
}
