/* server.c - the event loop: listeners, connections, the TLS <-> plaintext pump */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "admin.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "strmap.h"
#include "tls.h"

#define ACCEPT_BATCH 64			/* accepts per wake-up per listener */
#define LIMIT_LOG_MS 10000		/* at most one limits line per interval */
#define IN_BUF 4096			/* decrypted bytes on their way to MHD */
#define OUT_BUF 8192			/* MHD's bytes on their way to TLS */

enum conn_state { CONN_HANDSHAKE, CONN_OPEN, CONN_LINGER };

/*
 * Which connections may be closed to make room for a new one at
 * max_connections or max_connections_per_ip, in this order: lingering ones
 * (done already), then those in the handshake that have been silent for
 * HS_SILENT_MS (costing us a slot and nothing else), then idle keep-alive
 * ones, then handshakes still moving; in each class the one that has waited
 * longest first (a handshake step moves a connection to the end of its
 * list). A connection with a request begun and not answered is on no list:
 * it is never closed to make room.
 */
enum evict_class { EVICT_LINGER, EVICT_HANDSHAKE, EVICT_IDLE, EVICT_CLASSES,
	EVICT_NONE = EVICT_CLASSES };

struct conn;
struct evlist {
	struct conn *head, *tail;	/* oldest first */
};
struct evlink {
	struct conn *prev, *next;
};

/* where the header scan of conn_scan() is in a line */
enum hdr_state { HDR_LINE_START, HDR_START_CR, HDR_MID };

#define LINGER_MS 2000			/* reading what a closing client still sends */
#define HS_SILENT_MS 1000		/* a handshake waiting this long is silent */

/*
 * One client connection. It owns the client socket (fd), the TLS context,
 * our end of the socketpair (pfd) whose other end (mhd_fd) libmicrohttpd
 * owns, and one reference to the snapshot that was current when it was
 * accepted: a reload never changes what an open connection serves.
 */
struct conn {
	int fd, pfd, mhd_fd;
	enum conn_state state;
	mbedtls_ssl_context ssl;
	struct tls_peer peer;		/* peer.snap is our snapshot reference */
	struct server_conn_view view;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[INET6_ADDRSTRLEN];
	double deadline_ms;		/* handshake deadline */
	struct ipcount *ip;		/* this address's connection count */
	uint32_t ev_fd, ev_pfd;		/* epoll interest now registered */
	int tls_want_write;		/* the last TLS call wants the socket writable */
	int client_eof;			/* the client will send nothing more */
	double eof_ms;			/* since when */
	int pfd_eof;			/* libmicrohttpd closed its end */
	int mhd_done;			/* libmicrohttpd takes no more requests */
	int wake_pending;		/* on the wake list */
	int pfd_ready;			/* libmicrohttpd may have written: recv() pfd */
	struct tls_bio bio;		/* fd, with mbedTLS's read-ahead */
	size_t in_off, in_len, out_off, out_len;
	size_t in_ok;			/* in[in_off..in_ok) checked: may go on */
	size_t hdr_bytes;		/* the current request's header bytes so far */
	unsigned hdr_lines;		/* its lines so far, request line included */
	enum hdr_state hdr_state;
	double hdr_started_ms;		/* when its first byte came */
	unsigned refuse;		/* 400 or 431 to answer once libmicrohttpd is done */
	int refuse_sent;
	enum evict_class evict;		/* which make-room list it is on */
	double waiting_ms;		/* on it since (handshake: since its last step) */
	struct evlink all_link, ip_link; /* on that list, and its address's */
	struct conn *prev, *next;	/* every connection, oldest first */
	unsigned char in[IN_BUF];
	unsigned char out[OUT_BUF];
};

/* open connections per client address (IPv6: per /64), for
 * max_connections_per_ip */
struct ipcount {
	unsigned n;
	struct evlist lists[EVICT_CLASSES]; /* its connections that may make room */
	char addr[INET6_ADDRSTRLEN + 4]; /* the map's key: "192.0.2.1", "2001:db8::/64" */
};

/*
 * One event-loop thread. Worker 0 is the main thread: it also owns signals,
 * the admin listener and reloads. Every worker has its own listening
 * sockets (SO_REUSEPORT: the kernel spreads connections), epoll set,
 * libmicrohttpd daemon, connections and current snapshot; workers share
 * nothing mutable but atomic counters and this mailbox, through which
 * worker 0 hands each of them every new snapshot and the stop order.
 */
struct worker {
	unsigned id;
	pthread_t thread;
	int *listeners;
	size_t nlisteners;
	int ctl_fd;			/* eventfd: the mailbox has something */
	pthread_mutex_t lock;
	struct snapshot *incoming;	/* one reference, or NULL */
	int stop;
	int rc;
};

static struct worker *workers;
static unsigned nworkers;
static int sigfd = -1, admin_epfd = -1;
static const struct config *run_cfg;	/* read while threads start, not after */

/* limits shared by every worker, changed by reloads */
static atomic_uint max_conns, max_per_ip, handshake_ms, request_ms, shutdown_ms;
static unsigned max_header;		/* max_header_size at start (libmicrohttpd's pool) */
static atomic_ulong evicted;		/* connections closed to make room */

/* the state of the worker running on this thread */
static _Thread_local struct worker *self;
static _Thread_local int epfd = -1, mhd_epfd = -1;
static _Thread_local struct strmap per_ip;
static _Thread_local int armed;		/* listeners registered: a snapshot is loaded */
static _Thread_local int *listeners;
static _Thread_local size_t nlisteners;
static _Thread_local struct conn **by_fd; /* fd -> connection: fd, pfd and mhd_fd */
static _Thread_local size_t by_fd_cap;
static _Thread_local struct conn *conns_head, *conns_tail;
static _Thread_local size_t nconns;
static _Thread_local int stopping;
static _Thread_local double accept_paused_until;
static _Thread_local struct evlist evict_lists[EVICT_CLASSES];
/* the epoll events being handled: a closed connection's later ones are
 * voided, so that a new connection reusing its descriptors gets none */
static _Thread_local struct epoll_event *batch;
static _Thread_local int batch_n, batch_i;

double
server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int
by_fd_set(int fd, struct conn *c)
{
	if ((size_t)fd >= by_fd_cap) {
		size_t cap = by_fd_cap ? by_fd_cap : 256;
		struct conn **v;

		while (cap <= (size_t)fd)
			cap *= 2;
		if ((v = realloc(by_fd, cap * sizeof(*v))) == NULL)
			return -1;
		memset(v + by_fd_cap, 0, (cap - by_fd_cap) * sizeof(*v));
		by_fd = v;
		by_fd_cap = cap;
	}
	by_fd[fd] = c;
	return 0;
}

static struct conn *
by_fd_get(int fd)
{
	return fd >= 0 && (size_t)fd < by_fd_cap ? by_fd[fd] : NULL;
}

/* connections whose pump a completed request may unblock (see conn_pump) */
static _Thread_local struct conn **wake_v;
static _Thread_local size_t wake_n, wake_cap;

void
server_conn_wake(struct server_conn_view *v)
{
	struct conn *c = (struct conn *)((char *)v - offsetof(struct conn, view));

	if (c->wake_pending)
		return;
	if (wake_n == wake_cap) {
		size_t cap = wake_cap ? wake_cap * 2 : 64;
		struct conn **nv = realloc(wake_v, cap * sizeof(*nv));

		if (nv == NULL)
			return;		/* the next event on it pumps it anyway */
		wake_v = nv;
		wake_cap = cap;
	}
	c->wake_pending = 1;
	wake_v[wake_n++] = c;
}

struct server_conn_view *
server_conn_lookup(int fd)
{
	struct conn *c = by_fd_get(fd);

	return c != NULL && c->mhd_fd == fd ? &c->view : NULL;
}

/* one listening socket for la; SO_REUSEPORT when several workers share it */
static int
bind_one(const struct listen_addr *la, int reuseport)
{
	int fd, one = 1;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_err("listen %s: socket: %s", la->text, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (la->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) == -1) {
		log_err("listen %s: cannot bind: %s%s", la->text,
		    strerror(errno), errno == EACCES ? " (ports below 1024 need "
		    "root or CAP_NET_BIND_SERVICE)" : "");
		close(fd);
		return -1;
	}
	if (listen(fd, 1024) == -1) {
		log_err("listen %s: %s", la->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
server_bind(const struct config *cfg)
{
	nworkers = cfg->workers ? cfg->workers : 1;
	if ((workers = calloc(nworkers, sizeof(*workers))) == NULL)
		return -1;
	for (unsigned w = 0; w < nworkers; w++) {
		struct worker *wk = &workers[w];

		wk->id = w;
		wk->ctl_fd = -1;
		pthread_mutex_init(&wk->lock, NULL);
		if ((wk->listeners = calloc(cfg->nlisten, sizeof(int))) == NULL)
			return -1;
		for (size_t i = 0; i < cfg->nlisten; i++) {
			int fd = bind_one(&cfg->listen[i], nworkers > 1);

			if (fd == -1)
				return -1;
			wk->listeners[wk->nlisteners++] = fd;
		}
	}
	return admin_start(cfg, &admin_epfd);
}

static void
ev_set(int fd, uint32_t *cur, uint32_t want)
{
	struct epoll_event ev;

	if (*cur == want)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.fd = fd;
	epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
	*cur = want;
}

static int
ev_add(int fd, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.fd = fd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static struct evlink *
evlink_of(struct conn *c, int of_ip)
{
	return of_ip ? &c->ip_link : &c->all_link;
}

static void
evlist_unlink(struct evlist *l, struct conn *c, int of_ip)
{
	struct evlink *k = evlink_of(c, of_ip);

	if (k->prev != NULL)
		evlink_of(k->prev, of_ip)->next = k->next;
	else
		l->head = k->next;
	if (k->next != NULL)
		evlink_of(k->next, of_ip)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
}

static void
evlist_append(struct evlist *l, struct conn *c, int of_ip)
{
	struct evlink *k = evlink_of(c, of_ip);

	k->next = NULL;
	k->prev = l->tail;
	if (l->tail != NULL)
		evlink_of(l->tail, of_ip)->next = c;
	else
		l->head = c;
	l->tail = c;
}

/* move c to the end of the make-room list of class cls (or onto none) */
static void
conn_evict_set(struct conn *c, enum evict_class cls)
{
	if (c->evict == cls)
		return;
	if (c->evict != EVICT_NONE) {
		evlist_unlink(&evict_lists[c->evict], c, 0);
		if (c->ip != NULL)
			evlist_unlink(&c->ip->lists[c->evict], c, 1);
	}
	c->evict = cls;
	c->waiting_ms = server_now_ms();
	if (cls != EVICT_NONE) {
		evlist_append(&evict_lists[cls], c, 0);
		if (c->ip != NULL)
			evlist_append(&c->ip->lists[cls], c, 1);
	}
}

static void
conn_close(struct conn *c)
{
	conn_evict_set(c, EVICT_NONE);
	for (int i = batch_i + 1; i < batch_n; i++)
		if (batch[i].data.fd == c->fd || batch[i].data.fd == c->pfd)
			batch[i].data.fd = -1;
	if (c->pfd != -1) {
		by_fd_set(c->pfd, NULL);
		close(c->pfd);
	}
	if (by_fd_get(c->mhd_fd) == c)
		by_fd_set(c->mhd_fd, NULL);
	by_fd_set(c->fd, NULL);
	close(c->fd);
	mbedtls_ssl_free(&c->ssl);
	snapshot_unref((struct snapshot *)c->peer.snap);
	if (c->ip != NULL && --c->ip->n == 0) {
		strmap_del(&per_ip, c->ip->addr);
		free(c->ip);
	}
	metrics_conn_closed();
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns_head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		conns_tail = c->prev;
	nconns--;
	free(c);
}

/*
 * An open connection waiting for its next request: nothing of one received,
 * nothing being answered, nothing on its way to the client.
 */
static int
conn_waiting(const struct conn *c)
{
	return c->state == CONN_OPEN && c->hdr_bytes == 0 && !c->view.in_body &&
	    c->view.inflight == 0 && c->in_off == c->in_len &&
	    c->out_off == c->out_len && !c->tls_want_write && c->refuse == 0 &&
	    !c->client_eof && !c->mhd_done && !c->pfd_eof;
}

/* register the epoll interest the connection's buffers call for, and put it
 * on the make-room list its state calls for */
static void
conn_update_events(struct conn *c)
{
	uint32_t want = 0;

	conn_evict_set(c, c->state == CONN_LINGER ? EVICT_LINGER :
	    c->state == CONN_HANDSHAKE ? EVICT_HANDSHAKE :
	    conn_waiting(c) ? EVICT_IDLE : EVICT_NONE);

	if (c->state == CONN_LINGER)
		want = EPOLLIN;
	else if (c->state == CONN_HANDSHAKE)
		want = (c->tls_want_write ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP;
	else {
		if (!c->client_eof && c->in_off == c->in_len)
			want |= EPOLLIN;
		if (c->tls_want_write)
			want |= EPOLLOUT;
	}
	ev_set(c->fd, &c->ev_fd, want);
	if (c->pfd != -1) {
		want = 0;
		if (c->state == CONN_LINGER)
			;	/* libmicrohttpd is done */
		else if (!c->pfd_eof && c->out_off == c->out_len)
			want |= EPOLLIN;
		if (c->in_off < c->in_ok && c->view.inflight == 0)
			want |= EPOLLOUT;
		ev_set(c->pfd, &c->ev_pfd, want);
	}
}

/*
 * Check the request bytes libmicrohttpd has not seen, one request at a time:
 * from its first byte to the empty line that ends its headers, the way
 * libmicrohttpd splits lines (CRLF or a bare LF; empty lines before a
 * request line are skipped). A NUL byte anywhere in them, more than
 * max_header_size bytes, or more than HTTP_MAX_FIELDS header lines: the
 * request is refused (c->refuse). At the end of the headers the scan stops
 * (view.in_body) until libmicrohttpd has completed the request: whatever
 * follows is the next request, checked in its turn, or a body that nobody
 * reads (a request with a body is answered at once, and the connection
 * closed).
 */
static void
conn_scan(struct conn *c)
{
	while (c->in_ok < c->in_len && !c->view.in_body && c->refuse == 0) {
		unsigned char b = c->in[c->in_ok];
		int empty = 0;

		if (c->hdr_bytes == 0)
			c->hdr_started_ms = server_now_ms();
		if (b == '\0') {
			c->refuse = 400;
			return;
		}
		if (++c->hdr_bytes > max_header) {
			c->refuse = 431;
			return;
		}
		c->in_ok++;
		switch (c->hdr_state) {
		case HDR_LINE_START:
		case HDR_START_CR:
			if (b == '\n')
				empty = 1;
			else if (b == '\r' && c->hdr_state == HDR_LINE_START)
				c->hdr_state = HDR_START_CR;
			else
				c->hdr_state = HDR_MID;
			break;
		case HDR_MID:
			if (b != '\n')
				break;
			c->hdr_state = HDR_LINE_START;
			if (++c->hdr_lines > HTTP_MAX_FIELDS + 1) {
				c->refuse = 431;
				return;
			}
			break;
		}
		if (empty) {
			c->hdr_state = HDR_LINE_START;
			if (c->hdr_lines > 0) {
				/* the end of this request's headers */
				c->view.in_body = 1;
				c->hdr_bytes = 0;
				c->hdr_lines = 0;
			}
		}
	}
}

/*
 * The request conn_scan() refused is answered here, after every answer
 * libmicrohttpd wrote for the requests before it: the response goes where
 * libmicrohttpd's bytes go, and the connection closes after it.
 */
static void
conn_refuse_load(struct conn *c)
{
	char body[160];
	int blen, n;

	if (c->refuse == 431)
		blen = snprintf(body, sizeof(body), "Request Header Fields Too Large: "
		    "at most %u bytes of request line and headers, and %d header "
		    "fields\n", max_header, HTTP_MAX_FIELDS);
	else
		blen = snprintf(body, sizeof(body), "Bad Request: NUL byte in a "
		    "request\n");
	n = snprintf((char *)c->out, sizeof(c->out), "HTTP/1.1 %u %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %d\r\n"
	    "Connection: close\r\n\r\n%s", c->refuse, c->refuse == 431 ?
	    "Request Header Fields Too Large" : "Bad Request", blen, body);
	c->out_off = 0;
	c->out_len = (size_t)n;
	c->refuse_sent = 1;
	log_debug("%s: %s; answered %u and closing", c->addr_text,
	    c->refuse == 431 ? "request headers too large" :
	    "NUL byte in a request", c->refuse);
	metrics_request(c->refuse);
	log_access(c->view.peer, c->view.sni, NULL, "-", "-", c->refuse,
	    (size_t)blen, server_now_ms() - c->hdr_started_ms);
}

/*
 * Move bytes both ways until nothing moves: TLS -> in -> libmicrohttpd and
 * libmicrohttpd -> out -> TLS. Returns -1 when the connection is finished
 * (the caller closes it), 0 otherwise.
 */
static int
conn_pump(struct conn *c)
{
	int progress, r;
	ssize_t n;

	if (c->state == CONN_LINGER)
		return 0;

again:
	do {
		progress = 0;
		c->tls_want_write = 0;

		/* client -> in */
		if (c->in_off == c->in_len && !c->client_eof && !c->mhd_done) {
			c->in_off = c->in_len = c->in_ok = 0;
			r = mbedtls_ssl_read(&c->ssl, c->in, sizeof(c->in));
			if (r > 0) {
				c->in_len = (size_t)r;
				progress = 1;
			} else if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
				c->tls_want_write = 1;
			else if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
				/* let libmicrohttpd answer what it has, then close */
				c->client_eof = 1;
				c->eof_ms = server_now_ms();
				shutdown(c->pfd, SHUT_WR);
				progress = 1;
			} else if (r != MBEDTLS_ERR_SSL_WANT_READ)
				return -1;
		}
		/* in: checked one request at a time (conn_scan); after an
		 * answer that closes the connection, nobody reads the rest;
		 * a shutdown starts no new request */
		if (c->in_ok < c->in_len && !c->view.in_body && c->refuse == 0 &&
		    !c->mhd_done && !stopping) {
			if (c->view.closing) {
				c->in_off = c->in_ok = c->in_len;
				c->mhd_done = 1;
			} else
				conn_scan(c);
			if (c->refuse != 0) {
				/* nothing more goes to libmicrohttpd */
				c->in_off = c->in_ok = c->in_len;
				c->mhd_done = 1;
			}
			progress = 1;
		}
		/*
		 * in -> libmicrohttpd, only what conn_scan() passed: the
		 * current request up to the end of its headers. While
		 * libmicrohttpd answers it, it gets no more bytes: a pipelined
		 * flood would otherwise pile up in its fixed-size connection
		 * pool until it has no room left for the next request's
		 * headers, and it drops the connection. When the request
		 * completes, server_conn_wake() resumes the pump.
		 */
		if (c->in_off < c->in_ok && c->view.inflight == 0) {
			n = send(c->pfd, c->in + c->in_off, c->in_ok - c->in_off,
			    MSG_NOSIGNAL);
			if (n > 0) {
				if (!c->view.forwarded) {
					c->view.forwarded = 1;
					c->view.started_ms = server_now_ms();
				}
				c->in_off += (size_t)n;
				progress = 1;
			} else if (n == -1 && (errno == EPIPE ||
			    errno == ECONNRESET)) {
				/* it closed its end (Connection: close): drop
				 * the requests it will never read, but still
				 * deliver every answer it wrote */
				c->in_off = c->in_ok = c->in_len;
				c->mhd_done = 1;
			} else if (n == -1 && errno != EAGAIN && errno != EINTR)
				return -1;
		}
		/* libmicrohttpd -> out; only when it may have written: after
		 * an epoll event on pfd or a wake (it writes in http_run), so
		 * that forwarding a request costs no recv() only to learn
		 * EAGAIN (epoll is level-triggered: nothing is missed) */
		if (c->out_off == c->out_len && !c->pfd_eof && c->pfd_ready) {
			c->out_off = c->out_len = 0;
			n = recv(c->pfd, c->out, sizeof(c->out), 0);
			if (n > 0) {
				c->out_len = (size_t)n;
				progress = 1;
				/* a short read emptied the socket */
				c->pfd_ready = (size_t)n == sizeof(c->out);
			} else if (n == 0 || errno == ECONNRESET) {
				/* closed; a reset only says it left requests
				 * unread, and comes after all it wrote */
				c->pfd_eof = 1;
			} else if (errno == EAGAIN)
				c->pfd_ready = 0;
			else if (errno != EINTR)
				return -1;
		}
		/* out -> client */
		if (c->out_off < c->out_len) {
			r = mbedtls_ssl_write(&c->ssl, c->out + c->out_off,
			    c->out_len - c->out_off);
			if (r > 0) {
				c->out_off += (size_t)r;
				progress = 1;
			} else if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
				c->tls_want_write = 1;
			else if (r != MBEDTLS_ERR_SSL_WANT_READ)
				return -1;
		}
	} while (progress);

	/*
	 * A refused request: the requests before it have completed (the scan
	 * waits for that), so every answer libmicrohttpd had is in the
	 * socketpair, and the loop above has read it all once out is empty
	 * (recv said EAGAIN). Now the refusal; after it, libmicrohttpd has
	 * nothing more to say (its half of the refused request is dropped
	 * with its socket).
	 */
	if (c->refuse != 0 && c->out_off == c->out_len) {
		if (!c->refuse_sent) {
			conn_refuse_load(c);
			goto again;
		}
		c->pfd_eof = 1;
	}
	if (c->pfd_eof && c->out_off == c->out_len) {
		/* libmicrohttpd is done with this connection: say goodbye */
		mbedtls_ssl_close_notify(&c->ssl);
		if (c->client_eof)
			return -1;
		/*
		 * Lingering close: a client that pipelined more requests
		 * than were answered still has bytes on the way; closing now
		 * would make the kernel answer them with a reset, which can
		 * destroy answers the client has not read yet. So stop
		 * writing, read and drop what still comes, and close when
		 * the client does, or after LINGER_MS.
		 */
		shutdown(c->fd, SHUT_WR);
		c->state = CONN_LINGER;
		c->deadline_ms = server_now_ms() + LINGER_MS;
		by_fd_set(c->pfd, NULL);
		close(c->pfd);		/* its hang-up would wake epoll forever */
		c->pfd = -1;
		return 0;
	}
	return 0;
}

/* the handshake finished: give the plaintext side to libmicrohttpd */
static int
conn_established(struct conn *c)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1) {
		log_warn("%s: socketpair: %s; connection dropped", c->addr_text,
		    strerror(errno));
		return -1;
	}
	if (by_fd_set(sp[0], c) == -1 || by_fd_set(sp[1], c) == -1) {
		by_fd_set(sp[0], NULL);
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	c->pfd = sp[0];
	c->mhd_fd = sp[1];
	c->pfd_ready = 1;
	if (ev_add(c->pfd, 0) == -1)
		return -1;
	c->state = CONN_OPEN;
	c->view.sni = c->peer.sni;
	c->view.domain = c->peer.domain;
	if (http_add(c->mhd_fd, (struct sockaddr *)&c->addr, c->addrlen) == -1) {
		/* libmicrohttpd closed its end already */
		by_fd_set(c->mhd_fd, NULL);
		c->mhd_fd = -1;
		return -1;
	}
	return 0;
}

static void
tcp_cork(int fd, int on)
{
	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

static void
conn_handshake(struct conn *c)
{
	char err[128];
	int r;

	/*
	 * mbedTLS writes a flight as one record per message; corked, they
	 * leave in as few segments as fit (TCP_NODELAY would send each at
	 * once), and uncorking when the step is done pushes them out.
	 */
	conn_evict_set(c, EVICT_NONE);	/* a step: to the end of the list */
	tcp_cork(c->fd, 1);
	r = mbedtls_ssl_handshake(&c->ssl);
	tcp_cork(c->fd, 0);
	c->tls_want_write = 0;
	if (r == MBEDTLS_ERR_SSL_WANT_READ) {
		conn_update_events(c);
		return;
	}
	if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
		c->tls_want_write = 1;
		conn_update_events(c);
		return;
	}
	if (r == 0 && c->peer.domain == NULL)
		r = MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE;	/* cannot happen: no cert */
	if (r != 0) {
		if (c->peer.refused != NULL) {
			metrics_handshake_failed(HS_FAIL_PROTOCOL);
			log_debug("%s: handshake refused: %s", c->addr_text,
			    c->peer.refused);
		} else if (c->peer.sni_unknown) {
			metrics_handshake_failed(HS_FAIL_UNKNOWN_SNI);
			log_debug("%s: handshake refused: unknown SNI %s",
			    c->addr_text, c->peer.sni);
		} else if (c->peer.domain == NULL && c->peer.sni[0] == '\0' &&
		    c->peer.hello_seen) {
			metrics_handshake_failed(HS_FAIL_NO_SNI);
			log_debug("%s: handshake refused: no SNI and no "
			    "default_domain", c->addr_text);
		} else if (!c->peer.hello_seen && (r == MBEDTLS_ERR_SSL_CONN_EOF ||
		    r == MBEDTLS_ERR_NET_CONN_RESET)) {
			/* closed before saying anything: a TCP health check or
			 * a port scan, not a failed handshake */
			log_debug("%s: closed before a ClientHello", c->addr_text);
		} else {
			metrics_handshake_failed(HS_FAIL_PROTOCOL);
			log_debug("%s: handshake failed: %s", c->addr_text,
			    tls_error_string(r, err, sizeof(err)));
		}
		conn_close(c);
		return;
	}
	metrics_handshake_ok();
	/* acknowledge the client's Finished now: a client with Nagle on holds
	 * its request until then, and a delayed ACK would cost it 40 ms */
	setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
	if (conn_established(c) == -1 || conn_pump(c) == -1) {
		conn_close(c);
		return;
	}
	conn_update_events(c);
}

/*
 * The key max_connections_per_ip counts by: the address, or for IPv6 its
 * /64 (one subscriber's or one host's share; a client owning a /64 could
 * otherwise take a new address for every connection).
 */
static void
conn_ip_key(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)ss)->sin6_addr;
		size_t n;

		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, &a.s6_addr[12], out, (socklen_t)len);
			return;
		}
		memset(&a.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a, out, (socklen_t)len);
		n = strlen(out);
		snprintf(out + n, len - n, "/64");
	} else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
		    (socklen_t)len);
}

/*
 * Close the connection that has waited longest without a request in
 * flight, from lists (every connection's, or one address's): see enum
 * evict_class. Returns -1 when there is none.
 */
static int
conn_make_room(struct evlist *lists, int of_ip)
{
	static const char *const why[EVICT_CLASSES] = { "closing",
	    "in the handshake", "idle" };
	/* the order of enum evict_class, but a handshake that is still
	 * moving only after the idle ones */
	struct conn *hs = lists[EVICT_HANDSHAKE].head;
	int silent = hs != NULL &&
	    server_now_ms() - hs->waiting_ms >= HS_SILENT_MS;
	const int order[] = { EVICT_LINGER, silent ? EVICT_HANDSHAKE : EVICT_IDLE,
	    silent ? EVICT_IDLE : EVICT_HANDSHAKE };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int k = order[i];
		struct conn *v = lists[k].head;

		if (v == NULL)
			continue;
		log_debug("%s: closed to make room at %s (%s)", v->addr_text,
		    of_ip ? "max_connections_per_ip" : "max_connections",
		    why[k]);
		atomic_fetch_add_explicit(&evicted, 1, memory_order_relaxed);
		conn_close(v);
		return 0;
	}
	return -1;
}

static int
conn_admit(const char *key, enum metrics_shed *shed)
{
	struct ipcount *ip;

	while ((ip = strmap_get(&per_ip, key)) != NULL && ip->n >= max_per_ip)
		if (conn_make_room(ip->lists, 1) == -1) {
			*shed = SHED_PER_IP;
			return -1;
		}
	while (nconns >= max_conns)
		if (conn_make_room(evict_lists, 0) == -1) {
			*shed = SHED_MAX_CONNECTIONS;
			return -1;
		}
	return 0;
}

/* count one more connection from c's address */
static int
conn_count_ip(struct conn *c, const char *key)
{
	struct ipcount *ip = strmap_get(&per_ip, key);

	if (ip == NULL) {
		if ((ip = calloc(1, sizeof(*ip))) == NULL)
			return -1;
		snprintf(ip->addr, sizeof(ip->addr), "%s", key);
		if (strmap_put(&per_ip, ip->addr, ip) == -1) {
			free(ip);
			return -1;
		}
	}
	ip->n++;
	c->ip = ip;
	return 0;
}

/* one line per LIMIT_LOG_MS at most, with the counts since the last one */
static void
limits_log(double now)
{
	static double last;
	static unsigned long seen[SHED_COUNT], seen_to, seen_ev;
	unsigned long cur[SHED_COUNT], to, ev, total = 0;

	if (now - last < LIMIT_LOG_MS)
		return;
	last = now;
	for (int i = 0; i < SHED_COUNT; i++) {
		cur[i] = metrics_shed_count((enum metrics_shed)i);
		total += cur[i] - seen[i];
	}
	to = metrics_handshake_failed_count(HS_FAIL_TIMEOUT);
	total += to - seen_to;
	ev = atomic_load_explicit(&evicted, memory_order_relaxed);
	total += ev - seen_ev;
	if (total == 0)
		return;
	log_warn("limits in the last %d s: %lu refused at max_connections "
	    "(%u), %lu at max_connections_per_ip (%u), %lu handshakes timed "
	    "out, %lu requests timed out, %lu refused for lack of memory, "
	    "%lu connections with nothing in flight closed to make room",
	    LIMIT_LOG_MS / 1000, cur[SHED_MAX_CONNECTIONS] -
	    seen[SHED_MAX_CONNECTIONS], max_conns, cur[SHED_PER_IP] -
	    seen[SHED_PER_IP], max_per_ip, to - seen_to,
	    cur[SHED_REQUEST_TIMEOUT] - seen[SHED_REQUEST_TIMEOUT],
	    cur[SHED_NO_MEMORY] - seen[SHED_NO_MEMORY], ev - seen_ev);
	memcpy(seen, cur, sizeof(seen));
	seen_to = to;
	seen_ev = ev;
}

static void
conn_accept(int lfd)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char key[INET6_ADDRSTRLEN + 4];
		enum metrics_shed shed;
		struct conn *c;
		int fd, one = 1;

		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: pause accepting briefly
				 * instead of spinning on a readable listener */
				log_warn("accept: %s; pausing accepts for 100 ms",
				    strerror(errno));
				accept_paused_until = server_now_ms() + 100;
			}
			return;
		}
		conn_ip_key(&ss, key, sizeof(key));
		if (conn_admit(key, &shed) == -1) {
			/* no room can be made: every connection has a request
			 * in flight; shed the newest, the others go on */
			close(fd);
			metrics_shed(shed);
			metrics_handshake_failed(HS_FAIL_LIMIT);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			metrics_shed(SHED_NO_MEMORY);
			continue;
		}
		c->fd = fd;
		c->pfd = c->mhd_fd = -1;
		c->evict = EVICT_NONE;
		c->addr = ss;
		c->addrlen = len;
		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			    c->addr_text, sizeof(c->addr_text));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			    c->addr_text, sizeof(c->addr_text));
		if (conn_count_ip(c, key) == -1) {
			close(fd);
			free(c);
			metrics_shed(SHED_NO_MEMORY);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->view.peer = c->addr_text;
		c->view.sni = "";
		c->peer.snap = snapshot_ref(snapshot_current());
		c->deadline_ms = server_now_ms() + handshake_ms;
		mbedtls_ssl_init(&c->ssl);
		c->prev = conns_tail;
		if (conns_tail != NULL)
			conns_tail->next = c;
		else
			conns_head = c;
		conns_tail = c;
		nconns++;
		metrics_conn_opened();
		if (mbedtls_ssl_setup(&c->ssl, tls_conf()) != 0 ||
		    by_fd_set(fd, c) == -1 ||
		    ev_add(fd, EPOLLIN | EPOLLRDHUP) == -1) {
			metrics_shed(SHED_NO_MEMORY);
			conn_close(c);
			continue;
		}
		c->ev_fd = EPOLLIN | EPOLLRDHUP;
		conn_evict_set(c, EVICT_HANDSHAKE);
		mbedtls_ssl_set_user_data_p(&c->ssl, &c->peer);
		tls_bio_init(&c->bio, fd);
		mbedtls_ssl_set_bio(&c->ssl, &c->bio, tls_bio_send, tls_bio_recv,
		    NULL);
	}
}

/* a connection with nothing in flight, which a shutdown may close now */
static int
conn_idle(const struct conn *c)
{
	int pending = 0;

	if (c->state == CONN_HANDSHAKE || c->state == CONN_LINGER)
		return 1;
	if (c->view.inflight != 0 || (c->view.forwarded && !c->client_eof) ||
	    c->in_off != c->in_len || c->out_off != c->out_len)
		return 0;
	/* pipelined requests libmicrohttpd has not read yet, or an answer it
	 * wrote that we have not: not idle */
	if ((ioctl(c->mhd_fd, FIONREAD, &pending) == 0 && pending > 0) ||
	    (ioctl(c->pfd, FIONREAD, &pending) == 0 && pending > 0))
		return 0;
	return 1;
}

/*
 * A request whose answer is being made or sent: a shutdown gives it
 * shutdown_timeout. Anything else (a handshake, an idle connection, a
 * request not complete yet) is closed at once.
 */
static int
conn_in_flight(const struct conn *c)
{
	int pending = 0;

	if (c->state != CONN_OPEN)
		return 0;
	if (c->view.in_body || c->view.inflight != 0 ||
	    c->out_off != c->out_len || c->tls_want_write ||
	    (c->refuse != 0 && !c->refuse_sent))
		return 1;
	/* an answer libmicrohttpd wrote that we have not read yet */
	return c->pfd != -1 && ioctl(c->pfd, FIONREAD, &pending) == 0 &&
	    pending > 0;
}

/*
 * Close a connection at a stop: with close_notify when it is open, and
 * after dropping the requests it sent that nobody will answer (closing a
 * socket with unread bytes makes the kernel send a reset, which can destroy
 * answers the client has not read yet).
 */
static void
conn_close_at_stop(struct conn *c)
{
	char buf[4096];

	if (c->state == CONN_OPEN)
		mbedtls_ssl_close_notify(&c->ssl);
	for (int i = 0; i < 64 && recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
	    i++)
		;
	conn_close(c);
}

/*
 * Close what ran out of time: handshakes past handshake_timeout, and
 * requests whose first byte came more than request_timeout ago without the
 * request being answered (slowloris: libmicrohttpd's own timeout is an idle
 * timeout, which a byte now and then defeats).
 */
static void
conn_expire(double now)
{
	struct conn *c, *next;

	for (c = conns_head; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_LINGER && now > c->deadline_ms) {
			conn_close(c);
		} else if (c->state == CONN_HANDSHAKE && now > c->deadline_ms) {
			metrics_handshake_failed(HS_FAIL_TIMEOUT);
			log_debug("%s: handshake timed out", c->addr_text);
			conn_close(c);
		} else if (c->state == CONN_OPEN && c->view.forwarded &&
		    c->view.inflight == 0 && now - c->view.started_ms > request_ms) {
			metrics_shed(SHED_REQUEST_TIMEOUT);
			log_debug("%s: request timed out", c->addr_text);
			conn_close(c);
		} else if (c->state == CONN_OPEN && c->client_eof &&
		    now - c->eof_ms > 100 && conn_idle(c)) {
			/* the client said goodbye in the middle of a request
			 * that can now never be complete: libmicrohttpd keeps
			 * waiting for the rest, we need not */
			log_debug("%s: closed by the client", c->addr_text);
			conn_close(c);
		}
	}
}

static void
stop_accepting(void)
{
	for (size_t i = 0; i < nlisteners; i++)
		close(listeners[i]);
	nlisteners = 0;
}

int
server_accepting(void)
{
	return armed && nlisteners > 0 && !stopping && accept_paused_until == 0;
}

void
server_publish(struct snapshot *s)
{
	for (unsigned w = 1; w < nworkers; w++) {
		struct worker *wk = &workers[w];
		uint64_t one = 1;

		pthread_mutex_lock(&wk->lock);
		snapshot_unref(wk->incoming);
		wk->incoming = snapshot_ref(s);
		pthread_mutex_unlock(&wk->lock);
		(void)!write(wk->ctl_fd, &one, sizeof(one));
	}
	snapshot_publish(s);
}

/* worker 0 tells the others to stop */
static void
stop_workers(void)
{
	for (unsigned w = 1; w < nworkers; w++) {
		uint64_t one = 1;

		pthread_mutex_lock(&workers[w].lock);
		workers[w].stop = 1;
		pthread_mutex_unlock(&workers[w].lock);
		(void)!write(workers[w].ctl_fd, &one, sizeof(one));
	}
}

/* a worker other than 0 reads its mailbox */
static void
handle_mailbox(void)
{
	struct snapshot *s;
	uint64_t v;
	int stop;

	(void)!read(self->ctl_fd, &v, sizeof(v));
	pthread_mutex_lock(&self->lock);
	s = self->incoming;
	self->incoming = NULL;
	stop = self->stop;
	pthread_mutex_unlock(&self->lock);
	if (s != NULL)
		snapshot_publish(s);
	if (stop)
		stopping = 1;
}

static void
handle_signal(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!stopping)
				log_info("%s: shutting down", strsignal(
				    (int)si.ssi_signo));
			stopping = 1;
			stop_workers();
			break;
		case SIGHUP:
			reload_request("SIGHUP");
			break;
		case SIGUSR1:
			log_reopen();
			break;
		default:
			break;
		}
	}
}

/* a lingering connection: drop what the client still sends; close at its
 * end of stream or error */
static void
conn_linger_read(struct conn *c)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

static void
handle_fd_event(int fd, uint32_t events)
{
	struct conn *c = by_fd_get(fd);

	if (c == NULL)
		return;
	if (fd == c->fd && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		tls_bio_readable(&c->bio);
	else if (fd == c->pfd)
		c->pfd_ready = 1;
	if (fd == c->fd && (events & (EPOLLERR | EPOLLHUP)) &&
	    !(events & EPOLLIN)) {
		conn_close(c);
		return;
	}
	if (c->state == CONN_LINGER) {
		conn_linger_read(c);
		return;
	}
	if (c->state == CONN_HANDSHAKE) {
		/* a client that has stopped sending before the handshake is
		 * done cannot finish it: drop it before doing the expensive
		 * key exchange and signature for nobody (ClientHello floods) */
		if (events & EPOLLRDHUP) {
			metrics_handshake_failed(HS_FAIL_PROTOCOL);
			log_debug("%s: closed during the handshake", c->addr_text);
			conn_close(c);
			return;
		}
		conn_handshake(c);
		return;
	}
	if (conn_pump(c) == -1) {
		conn_close(c);
		return;
	}
	conn_update_events(c);
}

void
server_apply(const struct config *cfg)
{
	/* the connection limit is shared out among the workers */
	atomic_store(&max_conns, (cfg->max_connections + nworkers - 1) /
	    (nworkers ? nworkers : 1));
	atomic_store(&max_per_ip, cfg->max_connections_per_ip);
	atomic_store(&handshake_ms, cfg->handshake_timeout * 1000);
	atomic_store(&request_ms, cfg->request_timeout * 1000);
	atomic_store(&shutdown_ms, config_number(cfg, "shutdown_timeout") * 1000);
	http_configure(cfg);
	admin_configure(cfg);
}

static void
listeners_arm(int on)
{
	for (size_t i = 0; i < nlisteners; i++)
		if (on)
			ev_add(listeners[i], EPOLLIN);
		else
			epoll_ctl(epfd, EPOLL_CTL_DEL, listeners[i], NULL);
}

/*
 * One worker's event loop, until it stops. Worker 0 (main) also handles
 * signals, the admin listener and reloads; the others take snapshots and
 * the stop order from their mailbox.
 */
static int
worker_loop(struct worker *w)
{
	struct epoll_event evs[128];
	double stop_deadline = 0, last_expire = 0;
	int main_worker = w->id == 0, rc = 0;

	self = w;
	listeners = w->listeners;
	nlisteners = w->nlisteners;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_err("event loop: %s", strerror(errno));
		return -1;
	}
	if (http_start(run_cfg, &mhd_epfd) == -1)
		return -1;
	ev_add(mhd_epfd, EPOLLIN);
	if (main_worker) {
		ev_add(sigfd, EPOLLIN);
		if (admin_epfd != -1)
			ev_add(admin_epfd, EPOLLIN);
		reload_start(epfd);
	} else
		ev_add(w->ctl_fd, EPOLLIN);

	for (;;) {
		double now = server_now_ms();
		long timeout = 1000, mt = http_timeout_ms();
		int n;

		/* the first snapshot is built in the background: accept only
		 * once there is something to serve */
		if (!armed && snapshot_current() != NULL) {
			listeners_arm(1);
			armed = 1;
		}
		if (main_worker && !armed && reload_startup_failed()) {
			stop_workers();
			rc = -1;
			break;
		}
		if (stopping) {
			struct conn *c, *next;

			if (stop_deadline == 0) {
				stop_accepting();
				stop_deadline = now + shutdown_ms;
			}
			for (c = conns_head; c != NULL; c = next) {
				next = c->next;
				if (!conn_in_flight(c))
					conn_close_at_stop(c);
			}
			if (nconns == 0)
				break;
			if (now >= stop_deadline) {
				log_info("shutdown_timeout (%u s) passed: closing %zu "
				    "connection(s) with a request in flight",
				    shutdown_ms / 1000, nconns);
				break;
			}
			timeout = 50;
		}
		if (accept_paused_until > 0 && now >= accept_paused_until) {
			accept_paused_until = 0;
			if (armed)
				listeners_arm(1);
		}
		if (mt >= 0 && mt < timeout)
			timeout = mt;
		if (main_worker) {
			if ((mt = admin_timeout_ms()) >= 0 && mt < timeout)
				timeout = mt;
			if ((mt = reload_timeout_ms(now)) >= 0 && mt < timeout)
				timeout = mt;
		}
		n = epoll_wait(epfd, evs, 128, (int)timeout);
		if (n == -1 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			rc = -1;
			break;
		}
		batch = evs;
		batch_n = n;
		for (batch_i = 0; batch_i < n; batch_i++) {
			int i = batch_i, fd = evs[i].data.fd;
			size_t l;

			if (fd == -1)
				continue;	/* its connection was closed */
			if (main_worker && fd == sigfd) {
				handle_signal();
				continue;
			}
			if (!main_worker && fd == w->ctl_fd) {
				handle_mailbox();
				continue;
			}
			if (fd == mhd_epfd || (main_worker && fd == admin_epfd))
				continue;	/* http_run, admin_run below */
			if (main_worker && reload_handle_fd(fd))
				continue;
			for (l = 0; l < nlisteners && listeners[l] != fd; l++)
				;
			if (l < nlisteners) {
				if (!stopping && accept_paused_until == 0)
					conn_accept(fd);
				if (accept_paused_until > 0)
					listeners_arm(0);
				continue;
			}
			handle_fd_event(fd, evs[i].events);
		}
		batch_n = 0;
		/* libmicrohttpd reads requests and writes responses here; the
		 * bytes it wrote are picked up by the next epoll round */
		http_run();
		for (size_t i = 0; i < wake_n; i++) {
			struct conn *c = wake_v[i];

			c->wake_pending = 0;
			c->pfd_ready = 1;	/* it ran: it may have answered */
			if (conn_pump(c) == -1)
				conn_close(c);
			else
				conn_update_events(c);
		}
		wake_n = 0;
		now = server_now_ms();
		if (now - last_expire >= 250) {
			conn_expire(now);
			if (main_worker)
				limits_log(now);
			last_expire = now;
		}
		if (main_worker) {
			admin_run();
			reload_tick(now);
		}
	}
	while (conns_head != NULL)
		conn_close(conns_head);
	http_stop();
	stop_accepting();
	w->nlisteners = 0;		/* closed */
	for (size_t i = 0; i < per_ip.cap; i++)
		free(per_ip.slots[i].value);
	strmap_free(&per_ip);
	free(by_fd);
	by_fd = NULL;
	by_fd_cap = 0;
	free(wake_v);
	wake_v = NULL;
	wake_n = wake_cap = 0;
	close(epfd);
	snapshot_publish(NULL);
	return rc;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = worker_loop(w);
	return NULL;
}

int
server_run(const struct config *cfg)
{
	sigset_t mask;
	int rc;

	run_cfg = cfg;
	max_header = cfg->max_header_size;	/* libmicrohttpd's pool is sized once */
	server_apply(cfg);
	signal(SIGPIPE, SIG_IGN);
	/* blocked in every thread (they inherit the mask); worker 0 reads
	 * them from a signalfd */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		log_err("signalfd: %s", strerror(errno));
		return -1;
	}
	for (unsigned i = 1; i < nworkers; i++) {
		workers[i].ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (workers[i].ctl_fd == -1 ||
		    pthread_create(&workers[i].thread, NULL, worker_main,
		    &workers[i]) != 0) {
			log_err("cannot start worker %u: %s", i, strerror(errno));
			nworkers = i;	/* the others are stopped below */
			break;
		}
	}
	rc = worker_loop(&workers[0]);
	stop_workers();
	for (unsigned i = 1; i < nworkers; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].rc != 0)
			rc = -1;
		snapshot_unref(workers[i].incoming);
		close(workers[i].ctl_fd);
	}
	if (rc == 0)
		log_info("stopped");
	close(sigfd);
	sigfd = -1;
	server_release();
	return rc;
}

void
server_release(void)
{
	for (unsigned i = 0; workers != NULL && i < nworkers; i++) {
		for (size_t k = 0; k < workers[i].nlisteners; k++)
			close(workers[i].listeners[k]);
		free(workers[i].listeners);
		pthread_mutex_destroy(&workers[i].lock);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
	admin_stop();
	reload_stop();
}
