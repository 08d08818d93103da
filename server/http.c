/* http.c - the libmicrohttpd daemon and the request handler */
#include "http.h"

#include <ctype.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <microhttpd.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mhdloop.h"
#include "names.h"
#include "snapshot.h"

/* one worker's libmicrohttpd daemon, and what its handler needs */
/* the same for every worker: set by http_configure on reload */
static atomic_uint max_requests = 1000;	/* per connection */
static atomic_uint idle_timeout = 30;	/* seconds, for new connections */

struct http {
	struct MHD_Daemon *daemon;
	struct http_ops ops;		/* back to the connections */
	struct loop_fd lf;		/* libmicrohttpd's epoll set */
	struct loop_hook hook;
	struct MHD_Response *resp_400, *resp_400_target, *resp_404, *resp_405,
	    *resp_421;
};
/* a request's *req_cls: NULL until libmicrohttpd has parsed its request
 * line, then &uri_marker until the handler first sees it, then &req_marker */
static int uri_marker, req_marker;

static const char body_404[] = "Not Found: the MTA-STS policy is at "
    HTTP_POLICY_PATH "\n";
static const char body_405[] = "Method Not Allowed: use GET or HEAD\n";
static const char body_400[] = "Bad Request: HTTP/1.1 needs exactly one Host "
    "header\n";
static const char body_400_target[] = "Bad Request: the request target "
    "decodes to a control character\n";
static const char body_421[] = "Misdirected Request: the Host header names "
    "another domain than the TLS server name\n";

/* the headers every response carries: ours (http_common_headers) and
 * libmicrohttpd's (add_common_headers) alike */
static const char *const common_headers[][2] = {
	{ MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain" },
	{ MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=60" },
	{ "X-Content-Type-Options", "nosniff" },
};
#define NCOMMON (sizeof(common_headers) / sizeof(common_headers[0]))

static int
add_common_headers(struct MHD_Response *r)
{
	for (size_t i = 0; i < NCOMMON; i++)
		if (MHD_add_response_header(r, common_headers[i][0],
		    common_headers[i][1]) != MHD_YES)
			return -1;
	return 0;
}

int
http_common_headers(char *buf, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; i < NCOMMON; i++) {
		int n = snprintf(buf + off, len - off, "%s: %s\r\n",
		    common_headers[i][0], common_headers[i][1]);

		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return (int)off;
}

static struct MHD_Response *
static_response(const char *body)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (r != NULL && add_common_headers(r) == -1) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return r;
}

struct MHD_Response *
http_policy_response(const char *text, size_t len)
{
	struct MHD_Response *r;

	/* a copy owned by the response: libmicrohttpd reference-counts the
	 * response, so a connection still sending it keeps the bytes alive
	 * even after the snapshot that made it is gone */
	r = MHD_create_response_from_buffer(len, (void *)text,
	    MHD_RESPMEM_MUST_COPY);
	if (r != NULL && add_common_headers(r) == -1) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return r;
}

void
http_response_free(struct MHD_Response *r)
{
	if (r != NULL)
		MHD_destroy_response(r);
}

/*
 * Queue r. On the connection's last allowed request (max_requests_per_
 * connection) a copy with "Connection: close" is sent instead, so the client
 * is told, and libmicrohttpd closes after it.
 */
static enum MHD_Result
respond(struct MHD_Connection *mc, struct http_conn *v,
    const char *host, const char *method, const char *url, unsigned status,
    struct MHD_Response *r, const char *body, size_t body_len)
{
	int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	struct MHD_Response *last;
	enum MHD_Result ret;

	metrics_request(status);
	log_access(v->peer, v->sni, host, method, url, status,
	    head ? 0 : body_len, loop_now_ms() - v->started_ms);
	if (v->requests < atomic_load_explicit(&max_requests, memory_order_relaxed))
		return MHD_queue_response(mc, status, r);
	v->closing = 1;
	last = MHD_create_response_from_buffer(body_len, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (last == NULL || add_common_headers(last) == -1 ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	    MHD_add_response_header(last, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") !=
	    MHD_YES) ||
	    MHD_add_response_header(last, MHD_HTTP_HEADER_CONNECTION, "close") !=
	    MHD_YES) {
		http_response_free(last);
		return MHD_NO;
	}
	ret = MHD_queue_response(mc, status, last);
	MHD_destroy_response(last);
	return ret;
}

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Percent-decode a request target in place, as libmicrohttpd's own decoder
 * does, but note on the connection when something decodes to a control
 * byte: "%00" would otherwise cut the path short at the NUL, and
 * "/.well-known/mta-sts.txt%00.html" would look like the policy path.
 */
static size_t
http_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
	const struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct http_conn *v;
	char *r = s, *w = s;
	int bad = 0;

	while (*r != '\0') {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) &&
		    isxdigit((unsigned char)r[2])) {
			int c = hexval(r[1]) * 16 + hexval(r[2]);

			if (c < 0x20 || c == 0x7f) {
				bad = 1;
				c = '?';
			}
			*w++ = (char)c;
			r += 3;
		} else
			*w++ = *r++;
	}
	*w = '\0';
	if (bad && (ci = MHD_get_connection_info(mc,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL &&
	    (v = h->ops.lookup(h->ops.arg, ci->connect_fd)) != NULL)
		v->bad_target = 1;
	return (size_t)(w - s);
}

/* count the Host headers of a request */
static enum MHD_Result
count_host(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

/*
 * Does a Host header value (or an absolute-form authority) name want, the
 * policy host? Case-insensitive, with an optional ":port" and an optional
 * trailing dot (the fully qualified form).
 */
static int
host_matches(const char *host, size_t len, const char *want)
{
	char buf[NAME_MAX_LEN + 16], name[NAME_MAX_LEN + 1];
	char *colon;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, host, len);
	buf[len] = '\0';
	colon = strrchr(buf, ':');
	if (colon != NULL && colon > buf && colon[-1] == '.')
		memmove(colon - 1, colon, strlen(colon) + 1);	/* "name.:443" */
	else if (colon == NULL && len > 1 && buf[len - 1] == '.')
		buf[len - 1] = '\0';
	return name_from_host_header(buf, name, sizeof(name)) == 0 &&
	    strcmp(name, want) == 0;
}

/* does the request announce a body? */
static int
has_body(struct MHD_Connection *mc)
{
	const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (cl != NULL && strspn(cl, "0") != strlen(cl)) ||
	    MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/*
 * The request handler: 400 when an HTTP/1.1 request has no Host or several,
 * 421 when Host (or an absolute-form target) names another host than the
 * handshake selected, 404 for any path but the policy's, 405 for any method
 * but GET and HEAD, else 200 with the domain's policy. Never a redirect.
 *
 * libmicrohttpd closes the connection when a response is queued on the first
 * call, so a request without a body is answered on the second call and the
 * connection stays open for the next request. A request with a body (no
 * sender ever sends one) is answered at once, and the connection is closed
 * instead of reading a body we have no use for.
 */
static enum MHD_Result
http_handle(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	const struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct http_conn *v;
	const struct domain *dom;
	const char *host, *path = url;
	int nhost = 0;

	(void)upload_data;
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || (v = h->ops.lookup(h->ops.arg, ci->connect_fd)) == NULL ||
	    (dom = v->domain) == NULL)
		return MHD_NO;
	if (*req_cls != &req_marker) {
		*req_cls = &req_marker;
		v->inflight++;
		v->requests++;
		if (!has_body(mc))
			return MHD_YES;
		/* answered now; libmicrohttpd drops the body and closes */
		v->closing = 1;
	} else if (*upload_data_size != 0) {
		*upload_data_size = 0;	/* not reached: answered on the first call */
		return MHD_YES;
	}

	host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (v->bad_target)
		return respond(mc, v, host, method, url, MHD_HTTP_BAD_REQUEST,
		    h->resp_400_target, body_400_target, sizeof(body_400_target) - 1);
	MHD_get_connection_values(mc, MHD_HEADER_KIND, count_host, &nhost);
	if (nhost > 1 || (nhost == 0 &&
	    strcmp(version, MHD_HTTP_VERSION_1_0) != 0))
		return respond(mc, v, host, method, url, MHD_HTTP_BAD_REQUEST,
		    h->resp_400, body_400, sizeof(body_400) - 1);
	if (host != NULL && !host_matches(host, strlen(host), dom->host))
		return respond(mc, v, host, method, url, MHD_HTTP_MISDIRECTED_REQUEST,
		    h->resp_421, body_421, sizeof(body_421) - 1);
	/* absolute form (RFC 9112 3.2.2): its authority must name us too */
	if (strncasecmp(path, "https://", 8) == 0 ||
	    strncasecmp(path, "http://", 7) == 0) {
		const char *auth = strstr(path, "://") + 3;
		const char *end = strchr(auth, '/');

		if (!host_matches(auth, end != NULL ? (size_t)(end - auth) :
		    strlen(auth), dom->host))
			return respond(mc, v, host, method, url,
			    MHD_HTTP_MISDIRECTED_REQUEST, h->resp_421, body_421,
			    sizeof(body_421) - 1);
		path = end != NULL ? end : "/";
	}
	if (strcmp(path, HTTP_POLICY_PATH) != 0)
		return respond(mc, v, host, method, url, MHD_HTTP_NOT_FOUND,
		    h->resp_404, body_404, sizeof(body_404) - 1);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond(mc, v, host, method, url,
		    MHD_HTTP_METHOD_NOT_ALLOWED, h->resp_405, body_405,
		    sizeof(body_405) - 1);
	return respond(mc, v, host, method, url, MHD_HTTP_OK, dom->resp,
	    dom->policy.text, dom->policy.text_len);
}

/*
 * libmicrohttpd has parsed a request line: from now on it tells
 * http_completed() how the request ended, even when it answers the request
 * itself without calling the handler (headers too large: 431; a malformed
 * header line: 400). What it returns becomes the request's *req_cls.
 */
static void *
http_request_line(void *cls, const char *uri, struct MHD_Connection *mc)
{
	(void)cls;
	(void)uri;
	(void)mc;
	return &uri_marker;
}

/* the request libmicrohttpd refused by itself: one access-log line, as for
 * any answered request (method and path are not known any more) */
static void
log_refused(struct MHD_Connection *mc, const struct http_conn *v)
{
	const union MHD_ConnectionInfo *si;

	si = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_HTTP_STATUS);
	if (si == NULL || si->http_status == 0)
		return;		/* aborted or timed out: nothing was answered */
	metrics_request(si->http_status);
	log_access(v->peer, v->sni, NULL, "-", "-", si->http_status, 0,
	    loop_now_ms() - v->started_ms);
}

/* a request is over (sent, refused or aborted): the connection may be idle
 * again */
static void
http_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	const struct http *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct http_conn *v;
	int refused = *req_cls == &uri_marker;

	(void)toe;
	if (*req_cls == NULL)
		return;
	*req_cls = NULL;
	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL && (v = h->ops.lookup(h->ops.arg, ci->connect_fd)) != NULL) {
		if (refused) {
			log_refused(mc, v);
			v->closing = 1;	/* it closes after its own errors */
		}
		else if (v->inflight > 0)
			v->inflight--;
		v->forwarded = 0;
		v->bad_target = 0;
		v->in_body = 0;
		h->ops.wake(h->ops.arg, v);
	}
}

static void
http_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	/*
	 * libmicrohttpd's side of each connection is a socketpair to our TLS
	 * pump, where TCP_NODELAY and TCP_CORK do not exist: it says so, and
	 * that "Client may experience some delay", three lines per request.
	 * There is no delay (the pump sends each record at once and the TCP
	 * socket has TCP_NODELAY): drop them.
	 */
	if (strstr(fmt, " option to %s state failed") != NULL ||
	    strstr(fmt, "Client may experience some delay") != NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/* what libmicrohttpd may hold at most: one descriptor per connection, so
 * the hard limit on descriptors (the soft one may be raised up to it) */
static unsigned
http_connection_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_max == RLIM_INFINITY ||
	    rl.rlim_max > UINT_MAX)
		return UINT_MAX;
	return (unsigned)rl.rlim_max;
}

/* Take max_requests_per_connection and idle_timeout from cfg, for every
 * worker. */
void
http_configure(const struct config *cfg)
{
	atomic_store(&max_requests, cfg->max_requests_per_connection);
	atomic_store(&idle_timeout, cfg->idle_timeout);
}

/*
 * A connection starts: its idle timeout is the one configured now, not the
 * daemon's (set at start), so that a reload's idle_timeout applies to every
 * new connection. libmicrohttpd (0.9.75, and 1.0) has put the connection in
 * its timeout list before it calls this, as setting the option needs.
 */
static void
http_connection_started(void *cls, struct MHD_Connection *mc, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT,
		    atomic_load_explicit(&idle_timeout, memory_order_relaxed));
}

struct http *
http_start(const struct config *cfg, struct loop *loop,
    const struct http_ops *o)
{
	struct http *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		log_err("http: out of memory");
		return NULL;
	}
	h->lf.fd = -1;
	h->ops = *o;
	/* max_requests and idle_timeout: http_configure, from the server */
	h->resp_400 = static_response(body_400);
	h->resp_400_target = static_response(body_400_target);
	h->resp_404 = static_response(body_404);
	h->resp_405 = static_response(body_405);
	h->resp_421 = static_response(body_421);
	if (h->resp_400 == NULL || h->resp_400_target == NULL ||
	    h->resp_404 == NULL || h->resp_405 == NULL || h->resp_421 == NULL ||
	    MHD_add_response_header(h->resp_405, MHD_HTTP_HEADER_ALLOW,
	    "GET, HEAD") != MHD_YES) {
		log_err("http: out of memory");
		http_stop(h);
		return NULL;
	}
	h->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, http_handle, h,
	    MHD_OPTION_EXTERNAL_LOGGER, http_logger, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
	    /* max_connections is the loop's to enforce (a reload may raise
	     * it): libmicrohttpd's own limit only stops it at what the
	     * process could ever open */
	    MHD_OPTION_CONNECTION_LIMIT, http_connection_limit(),
	    /*
	     * The pool holds everything libmicrohttpd keeps of a request and
	     * its answer: the request line and headers (the server lets no more
	     * than max_header_size bytes and HTTP_MAX_FIELDS fields through),
	     * a record of 56 bytes (64 aligned) per field, a copy of a Cookie
	     * header (at most the header size again), and the response
	     * headers (2 KB is ample). It is not the header limit: with half of
	     * it for headers, libmicrohttpd took up to twice max_header_size
	     * and then closed without an answer.
	     */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->max_header_size * 2 +
	    HTTP_MAX_FIELDS * 64 + 2048,
	    MHD_OPTION_URI_LOG_CALLBACK, http_request_line, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, http_connection_started, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, h,
#if MHD_VERSION >= 0x00097701
	    /* libmicrohttpd 1.0 answers a request target with a space by
	     * default with a 301 to the encoded target; senders never follow
	     * redirects: level 1 makes it a 400 (the RFCs' stricter reading) */
	    MHD_OPTION_CLIENT_DISCIPLINE_LVL, (int)1,
#endif
	    MHD_OPTION_END);
	if (h->daemon == NULL) {
		log_err("http: libmicrohttpd failed to start");
		http_stop(h);
		return NULL;
	}
	if (mhdloop_attach(loop, h->daemon, &h->lf, &h->hook, "http") == -1) {
		http_stop(h);
		return NULL;
	}
	return h;
}

int
http_add(struct http *h, int fd, const struct sockaddr *peer,
    socklen_t peerlen)
{
	return MHD_add_connection(h->daemon, fd, peer, peerlen) == MHD_YES ?
	    0 : -1;
}

void
http_stop(struct http *h)
{
	if (h == NULL)
		return;
	if (h->daemon != NULL)
		MHD_stop_daemon(h->daemon);	/* closes its epoll set */
	http_response_free(h->resp_400);
	http_response_free(h->resp_400_target);
	http_response_free(h->resp_404);
	http_response_free(h->resp_405);
	http_response_free(h->resp_421);
	free(h);
}
