/* http01.c - the plain-HTTP listener answering ACME HTTP-01 challenges (http_listen) */
#include "http01.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "challenge.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mhdloop.h"

#define HTTP01_PREFIX "/.well-known/acme-challenge/"

/*
 * GET (or HEAD) /.well-known/acme-challenge/<token>: 200 with the key
 * authorization the challenge store holds for token (RFC 8555 section
 * 8.3), read now (another instance sharing the storage may have written
 * it). Anything else, an unknown token, or a token that is not base64url
 * (libmicrohttpd has decoded %xx: "..", "/" and the like are refused by
 * challenge_http_get): 404. No policy and nothing else is ever served here.
 */
static enum MHD_Result
http01_handle(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	static int marker;
	static char notfound[] = "not found\n";
	char *ka;

	(void)cls;
	(void)version;
	(void)upload_data;
	/* a GET is answered once its headers are in (the second call; a body
	 * it has is dropped first); anything else at once, before any body */
	if (*req_cls == NULL && (strcmp(method, "GET") == 0 ||
	    strcmp(method, "HEAD") == 0)) {
		*req_cls = &marker;
		return MHD_YES;
	}
	if (*req_cls != NULL && *upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*req_cls != NULL &&
	    strncmp(url, HTTP01_PREFIX, strlen(HTTP01_PREFIX)) == 0 &&
	    (ka = challenge_http_get(url + strlen(HTTP01_PREFIX))) != NULL) {
		metrics_challenge_answered(METRICS_CHALLENGE_HTTP);
		log_debug("http_listen: answered the HTTP-01 challenge %s", url);
		return mhdloop_reply(mc, MHD_HTTP_OK, "text/plain", ka, strlen(ka),
		    MHD_RESPMEM_MUST_FREE);
	}
	return mhdloop_reply(mc, MHD_HTTP_NOT_FOUND, "text/plain", notfound, strlen(notfound),
	    MHD_RESPMEM_PERSISTENT);
}

int
http01_start(struct http01 *h, const struct config *cfg)
{
	const struct listen_addr *la = &cfg->acme.http_listen;

	h->lf.fd = -1;
	if (cfg->acme.directory == NULL || la->len == 0)
		return 0;
	h->daemon = MHD_start_daemon(MHD_USE_EPOLL | (la->ss.ss_family ==
	    AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, http01_handle, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&la->ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)8,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	if (h->daemon == NULL) {
		log_err("[acme] http_listen %s: cannot listen (in use, not an "
		    "address of this host, or a port below 1024 without root or "
		    "CAP_NET_BIND_SERVICE)", la->text);
		return -1;
	}
	return 0;
}

int
http01_attach(struct http01 *h, struct loop *loop)
{
	if (h->daemon == NULL)
		return 0;
	return mhdloop_attach(loop, h->daemon, &h->lf, &h->hook,
	    "[acme] http_listen");
}

void
http01_stop(struct http01 *h)
{
	if (h->daemon != NULL)
		MHD_stop_daemon(h->daemon);	/* closes its epoll set */
	h->daemon = NULL;
	h->lf.fd = -1;
}
