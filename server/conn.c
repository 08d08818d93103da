/* conn.c - client connections: accept, TLS handshake, the TLS <-> plaintext pump, limits */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "snapshot.h"
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
 * One client connection. It owns the client socket (sock), the TLS context,
 * our end of the socketpair (pair) whose other end (mhd_fd) libmicrohttpd
 * owns, and one reference to the snapshot that was current when it was
 * accepted: a reload never changes what an open connection serves.
 */
struct conn {
	struct conns *cs;		/* its worker's */
	struct loop_fd sock, pair;	/* pair.fd -1: none (yet, or any more) */
	int mhd_fd;
	enum conn_state state;
	mbedtls_ssl_context ssl;
	struct tls_peer peer;		/* peer.snap is our snapshot reference */
	struct http_conn view;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[INET6_ADDRSTRLEN];
	double deadline_ms;		/* handshake deadline */
	struct ipcount *ip;		/* this address's connection count */
	int tls_want_write;		/* the last TLS call wants the socket writable */
	int client_eof;			/* the client will send nothing more */
	double eof_ms;			/* since when */
	int pfd_eof;			/* libmicrohttpd closed its end */
	int mhd_done;			/* libmicrohttpd takes no more requests */
	int wake_pending;		/* on the wake list */
	int pfd_ready;			/* libmicrohttpd may have written: recv() pair */
	struct tls_bio bio;		/* sock.fd, with mbedTLS's read-ahead */
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
 * One worker's connections and listeners. Nothing here is shared with
 * another thread but the limits (atomics, read only here).
 */
struct conns {
	struct loop *loop;
	struct http *http;		/* this worker's libmicrohttpd */
	const struct conn_limits *lim;
	struct loop_hook hook;
	struct loop_fd *listeners;
	size_t nlisteners;
	int armed;			/* listeners watched: a snapshot is loaded */
	int stopping;
	int log_limits;			/* this worker writes the limits line */
	unsigned max_header;		/* max_header_size at start (libmicrohttpd's pool) */
	double accept_paused_until;
	double last_expire;
	struct strmap per_ip;		/* address -> struct ipcount */
	struct conn **by_fd;		/* libmicrohttpd's socket -> connection */
	size_t by_fd_cap;
	struct conn *head, *tail;	/* every connection, oldest first */
	size_t n;
	struct evlist evict_lists[EVICT_CLASSES]; /* those that may make room */
	/* connections whose pump a completed request may unblock (see
	 * conn_pump), pumped after libmicrohttpd's work of the turn */
	struct conn **wake_v;
	size_t wake_n, wake_cap;
	/* the limits line: when it was written, the counts it gave */
	double limits_last;
	unsigned long limits_seen[SHED_COUNT], limits_seen_to;
};



static int
by_fd_set(struct conns *cs, int fd, struct conn *c)
{
	if ((size_t)fd >= cs->by_fd_cap) {
		size_t cap = cs->by_fd_cap ? cs->by_fd_cap : 256;
		struct conn **v;

		while (cap <= (size_t)fd)
			cap *= 2;
		if ((v = realloc(cs->by_fd, cap * sizeof(*v))) == NULL)
			return -1;
		memset(v + cs->by_fd_cap, 0, (cap - cs->by_fd_cap) * sizeof(*v));
		cs->by_fd = v;
		cs->by_fd_cap = cap;
	}
	cs->by_fd[fd] = c;
	return 0;
}

static struct conn *
by_fd_get(const struct conns *cs, int fd)
{
	return fd >= 0 && (size_t)fd < cs->by_fd_cap ? cs->by_fd[fd] : NULL;
}


/* http's wake: a request on v's connection completed (http_ops) */
static void
conn_wake(void *arg, struct http_conn *v)
{
	struct conns *cs = arg;
	struct conn *c = (struct conn *)((char *)v - offsetof(struct conn, view));

	if (c->wake_pending)
		return;
	if (cs->wake_n == cs->wake_cap) {
		size_t cap = cs->wake_cap ? cs->wake_cap * 2 : 64;
		struct conn **nv = realloc(cs->wake_v, cap * sizeof(*nv));

		if (nv == NULL)
			return;		/* the next event on it pumps it anyway */
		cs->wake_v = nv;
		cs->wake_cap = cap;
	}
	c->wake_pending = 1;
	cs->wake_v[cs->wake_n++] = c;
}

/* http's lookup: the connection whose libmicrohttpd-side socket is fd */
static struct http_conn *
conn_lookup(void *arg, int fd)
{
	struct conn *c = by_fd_get(arg, fd);

	return c != NULL && c->mhd_fd == fd ? &c->view : NULL;
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
		evlist_unlink(&c->cs->evict_lists[c->evict], c, 0);
		if (c->ip != NULL)
			evlist_unlink(&c->ip->lists[c->evict], c, 1);
	}
	c->evict = cls;
	c->waiting_ms = loop_now_ms();
	if (cls != EVICT_NONE) {
		evlist_append(&c->cs->evict_lists[cls], c, 0);
		if (c->ip != NULL)
			evlist_append(&c->ip->lists[cls], c, 1);
	}
}

static void
conn_close(struct conn *c)
{
	struct conns *cs = c->cs;

	conn_evict_set(c, EVICT_NONE);
	loop_fd_close(cs->loop, &c->pair);
	if (by_fd_get(cs, c->mhd_fd) == c)
		by_fd_set(cs, c->mhd_fd, NULL);
	loop_fd_close(cs->loop, &c->sock);
	mbedtls_ssl_free(&c->ssl);
	certs_unref(c->peer.challenge);
	snapshot_unref((struct snapshot *)c->peer.snap);
	if (c->ip != NULL && --c->ip->n == 0) {
		strmap_del(&cs->per_ip, c->ip->addr);
		free(c->ip);
	}
	metrics_conn_closed();
	if (c->wake_pending)
		for (size_t i = 0; i < cs->wake_n; i++)
			if (cs->wake_v[i] == c)
				cs->wake_v[i] = NULL;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cs->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		cs->tail = c->prev;
	cs->n--;
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
	loop_fd_set(c->cs->loop, &c->sock, want);
	if (c->pair.fd != -1) {
		want = 0;
		if (c->state == CONN_LINGER)
			;	/* libmicrohttpd is done */
		else if (!c->pfd_eof && c->out_off == c->out_len)
			want |= EPOLLIN;
		if (c->in_off < c->in_ok && c->view.inflight == 0)
			want |= EPOLLOUT;
		loop_fd_set(c->cs->loop, &c->pair, want);
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
		unsigned char b;
		int empty = 0;

		if (c->hdr_state == HDR_MID && c->hdr_bytes < c->cs->max_header) {
			/* inside a line, the bytes before the next LF or NUL
			 * (within the size allowed) change nothing but the
			 * count: step over them at once (memchr), then take the
			 * next byte one at a time as below */
			const unsigned char *p = c->in + c->in_ok, *e;
			size_t span = c->in_len - c->in_ok;

			if (span > c->cs->max_header - c->hdr_bytes)
				span = c->cs->max_header - c->hdr_bytes;
			if ((e = memchr(p, '\n', span)) != NULL)
				span = (size_t)(e - p);
			if ((e = memchr(p, '\0', span)) != NULL)
				span = (size_t)(e - p);
			c->in_ok += span;
			c->hdr_bytes += span;
			if (c->in_ok == c->in_len)
				break;
		}
		b = c->in[c->in_ok];
		if (c->hdr_bytes == 0)
			c->hdr_started_ms = loop_now_ms();
		if (b == '\0') {
			c->refuse = 400;
			return;
		}
		if (++c->hdr_bytes > c->cs->max_header) {
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
	char body[160], headers[256];
	int blen, n;

	if (c->refuse == 431)
		blen = snprintf(body, sizeof(body), "Request Header Fields Too Large: "
		    "at most %u bytes of request line and headers, and %d header "
		    "fields\n", c->cs->max_header, HTTP_MAX_FIELDS);
	else
		blen = snprintf(body, sizeof(body), "Bad Request: NUL byte in a "
		    "request\n");
	if (http_common_headers(headers, sizeof(headers)) == -1)
		headers[0] = '\0';
	n = snprintf((char *)c->out, sizeof(c->out), "HTTP/1.1 %u %s\r\n"
	    "%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
	    c->refuse, c->refuse == 431 ? "Request Header Fields Too Large" :
	    "Bad Request", headers, blen, body);
	c->out_off = 0;
	c->out_len = (size_t)n;
	c->refuse_sent = 1;
	log_debug("%s: %s; answered %u and closing", c->addr_text,
	    c->refuse == 431 ? "request headers too large" :
	    "NUL byte in a request", c->refuse);
	metrics_request(c->refuse);
	log_access(c->view.peer, c->view.sni, NULL, "-", "-", c->refuse,
	    (size_t)blen, loop_now_ms() - c->hdr_started_ms);
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
				c->eof_ms = loop_now_ms();
				shutdown(c->pair.fd, SHUT_WR);
				progress = 1;
			} else if (r != MBEDTLS_ERR_SSL_WANT_READ)
				return -1;
		}
		/* in: checked one request at a time (conn_scan); after an
		 * answer that closes the connection, nobody reads the rest;
		 * a shutdown starts no new request */
		if (c->in_ok < c->in_len && !c->view.in_body && c->refuse == 0 &&
		    !c->mhd_done && !c->cs->stopping) {
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
		 * completes, conn_wake() resumes the pump.
		 */
		if (c->in_off < c->in_ok && c->view.inflight == 0) {
			n = send(c->pair.fd, c->in + c->in_off, c->in_ok - c->in_off,
			    MSG_NOSIGNAL);
			if (n > 0) {
				if (!c->view.forwarded) {
					c->view.forwarded = 1;
					c->view.started_ms = loop_now_ms();
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
		 * an epoll event on pair or a wake (it writes in http_run), so
		 * that forwarding a request costs no recv() only to learn
		 * EAGAIN (epoll is level-triggered: nothing is missed) */
		if (c->out_off == c->out_len && !c->pfd_eof && c->pfd_ready) {
			c->out_off = c->out_len = 0;
			n = recv(c->pair.fd, c->out, sizeof(c->out), 0);
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
		shutdown(c->sock.fd, SHUT_WR);
		c->state = CONN_LINGER;
		c->deadline_ms = loop_now_ms() + LINGER_MS;
		/* its hang-up would wake epoll forever */
		loop_fd_close(c->cs->loop, &c->pair);
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
	if (by_fd_set(c->cs, sp[1], c) == -1) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	c->pair.fd = sp[0];
	c->mhd_fd = sp[1];
	c->pfd_ready = 1;
	if (loop_fd_add(c->cs->loop, &c->pair, 0) == -1)
		return -1;
	c->state = CONN_OPEN;
	c->view.sni = c->peer.sni;
	c->view.domain = c->peer.domain;
	if (http_add(c->cs->http, c->mhd_fd, (struct sockaddr *)&c->addr,
	    c->addrlen) == -1) {
		/* libmicrohttpd closed its end already */
		by_fd_set(c->cs, c->mhd_fd, NULL);
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
	tcp_cork(c->sock.fd, 1);
	r = mbedtls_ssl_handshake(&c->ssl);
	tcp_cork(c->sock.fd, 0);
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
	if (r == 0 && c->peer.challenge != NULL) {
		/* TLS-ALPN-01 (RFC 8737): the handshake was the answer; no
		 * HTTP follows, only close_notify */
		metrics_handshake_ok();
		metrics_challenge_answered(METRICS_CHALLENGE_TLS_ALPN);
		log_debug("%s: answered the TLS-ALPN-01 challenge for %s",
		    c->addr_text, c->peer.sni);
		mbedtls_ssl_close_notify(&c->ssl);
		conn_close(c);
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
	setsockopt(c->sock.fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
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
	    loop_now_ms() - hs->waiting_ms >= HS_SILENT_MS;
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
		metrics_shed(SHED_MAKE_ROOM);
		conn_close(v);
		return 0;
	}
	return -1;
}

/*
 * Room for one more connection from key's address: at a limit, close
 * connections with nothing in flight (that address's own first). Returns
 * 0, or -1 with the reason shed.
 */
static int
conn_admit(struct conns *cs, const char *key, enum metrics_shed *shed)
{
	struct ipcount *ip;

	while ((ip = strmap_get(&cs->per_ip, key)) != NULL &&
	    ip->n >= cs->lim->max_per_ip)
		if (conn_make_room(ip->lists, 1) == -1) {
			*shed = SHED_PER_IP;
			return -1;
		}
	while (cs->n >= cs->lim->max_conns)
		if (conn_make_room(cs->evict_lists, 0) == -1) {
			*shed = SHED_MAX_CONNECTIONS;
			return -1;
		}
	return 0;
}

/* count one more connection from c's address */
static int
conn_count_ip(struct conn *c, const char *key)
{
	struct conns *cs = c->cs;
	struct ipcount *ip = strmap_get(&cs->per_ip, key);

	if (ip == NULL) {
		if ((ip = calloc(1, sizeof(*ip))) == NULL)
			return -1;
		snprintf(ip->addr, sizeof(ip->addr), "%s", key);
		if (strmap_put(&cs->per_ip, ip->addr, ip) == -1) {
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
limits_log(struct conns *cs, double now)
{
	unsigned long *seen = cs->limits_seen, cur[SHED_COUNT], to, total = 0;

	if (now - cs->limits_last < LIMIT_LOG_MS)
		return;
	cs->limits_last = now;
	for (int i = 0; i < SHED_COUNT; i++) {
		cur[i] = metrics_shed_count((enum metrics_shed)i);
		total += cur[i] - seen[i];
	}
	to = metrics_handshake_failed_count(HS_FAIL_TIMEOUT);
	total += to - cs->limits_seen_to;
	if (total == 0)
		return;
	log_warn("limits in the last %d s: %lu refused at max_connections "
	    "(%u), %lu at max_connections_per_ip (%u), %lu handshakes timed "
	    "out, %lu requests timed out, %lu refused for lack of memory, "
	    "%lu connections with nothing in flight closed to make room",
	    LIMIT_LOG_MS / 1000, cur[SHED_MAX_CONNECTIONS] -
	    seen[SHED_MAX_CONNECTIONS], (unsigned)cs->lim->max_conns,
	    cur[SHED_PER_IP] - seen[SHED_PER_IP], (unsigned)cs->lim->max_per_ip,
	    to - cs->limits_seen_to,
	    cur[SHED_REQUEST_TIMEOUT] - seen[SHED_REQUEST_TIMEOUT],
	    cur[SHED_NO_MEMORY] - seen[SHED_NO_MEMORY],
	    cur[SHED_MAKE_ROOM] - seen[SHED_MAKE_ROOM]);
	memcpy(cs->limits_seen, cur, sizeof(cs->limits_seen));
	cs->limits_seen_to = to;
}

static void conn_event(struct loop_fd *lf, uint32_t events);

/* accept what waits on listener lfd, up to ACCEPT_BATCH */
static void
conn_accept(struct conns *cs, int lfd)
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
				cs->accept_paused_until = loop_now_ms() + 100;
			}
			return;
		}
		conn_ip_key(&ss, key, sizeof(key));
		if (conn_admit(cs, key, &shed) == -1) {
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
		c->cs = cs;
		c->sock.fd = fd;
		c->pair.fd = c->mhd_fd = -1;
		c->sock.cb = c->pair.cb = conn_event;
		c->sock.arg = c->pair.arg = c;
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
		c->deadline_ms = loop_now_ms() + cs->lim->handshake_ms;
		mbedtls_ssl_init(&c->ssl);
		c->prev = cs->tail;
		if (cs->tail != NULL)
			cs->tail->next = c;
		else
			cs->head = c;
		cs->tail = c;
		cs->n++;
		metrics_conn_opened();
		if (mbedtls_ssl_setup(&c->ssl, tls_conf()) != 0 ||
		    loop_fd_add(cs->loop, &c->sock, EPOLLIN | EPOLLRDHUP) == -1) {
			metrics_shed(SHED_NO_MEMORY);
			conn_close(c);
			continue;
		}
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
	    (ioctl(c->pair.fd, FIONREAD, &pending) == 0 && pending > 0))
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
	return c->pair.fd != -1 && ioctl(c->pair.fd, FIONREAD, &pending) == 0 &&
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
	for (int i = 0; i < 64 && recv(c->sock.fd, buf, sizeof(buf), MSG_DONTWAIT) > 0;
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
conn_expire(struct conns *cs, double now)
{
	struct conn *c, *next;

	for (c = cs->head; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_LINGER && now > c->deadline_ms) {
			conn_close(c);
		} else if (c->state == CONN_HANDSHAKE && now > c->deadline_ms) {
			metrics_handshake_failed(HS_FAIL_TIMEOUT);
			log_debug("%s: handshake timed out", c->addr_text);
			conn_close(c);
		} else if (c->state == CONN_OPEN && c->view.forwarded &&
		    c->view.inflight == 0 &&
		    now - c->view.started_ms > cs->lim->request_ms) {
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


/* a lingering connection: drop what the client still sends; close at its
 * end of stream or error */
static void
conn_linger_read(struct conn *c)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(c->sock.fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

/* an event on the client socket or on our end of the socketpair */
static void
conn_event(struct loop_fd *lf, uint32_t events)
{
	struct conn *c = lf->arg;

	if (lf == &c->sock && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
	    EPOLLERR)))
		tls_bio_readable(&c->bio);
	else if (lf == &c->pair)
		c->pfd_ready = 1;
	if (lf == &c->sock && (events & (EPOLLERR | EPOLLHUP)) &&
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
conn_limits_apply(struct conn_limits *lim, const struct config *cfg,
    unsigned nworkers)
{
	/* the connection limit is shared out among the workers */
	atomic_store(&lim->max_conns, (cfg->max_connections + nworkers - 1) /
	    (nworkers ? nworkers : 1));
	atomic_store(&lim->max_per_ip, cfg->max_connections_per_ip);
	atomic_store(&lim->handshake_ms, cfg->handshake_timeout * 1000);
	atomic_store(&lim->request_ms, cfg->request_timeout * 1000);
	atomic_store(&lim->shutdown_ms, config_number(cfg, "shutdown_timeout") * 1000);
}

/* watch the listeners (on 1) or stop watching them (0, e.g. while accepts
 * are paused) */
static void
listeners_arm(struct conns *cs, int on)
{
	for (size_t i = 0; i < cs->nlisteners; i++)
		if (on)
			loop_fd_add(cs->loop, &cs->listeners[i], EPOLLIN);
		else
			loop_fd_del(cs->loop, &cs->listeners[i]);
}

/* a listener is readable */
static void
conn_on_listener(struct loop_fd *lf, uint32_t events)
{
	struct conns *cs = lf->arg;

	(void)events;
	if (!cs->stopping && cs->accept_paused_until == 0)
		conn_accept(cs, lf->fd);
	if (cs->accept_paused_until > 0)
		listeners_arm(cs, 0);
}

/*
 * Before the loop waits: start accepting once a snapshot is current (the
 * first is built in the background), close what has no request in flight
 * while stopping, resume accepting after a pause. Returns the longest wait
 * it allows.
 */
static long
conns_before(void *arg, double now)
{
	struct conns *cs = arg;

	if (!cs->armed && snapshot_current() != NULL) {
		listeners_arm(cs, 1);
		cs->armed = 1;
	}
	if (cs->stopping) {
		struct conn *c, *next;

		for (c = cs->head; c != NULL; c = next) {
			next = c->next;
			if (!conn_in_flight(c))
				conn_close_at_stop(c);
		}
		return 50;
	}
	if (cs->accept_paused_until > 0) {
		if (now < cs->accept_paused_until)
			return (long)(cs->accept_paused_until - now) + 1;
		cs->accept_paused_until = 0;
		if (cs->armed)
			listeners_arm(cs, 1);
	}
	return -1;
}

/*
 * After the loop's events and libmicrohttpd's work (its hook runs first):
 * pump the connections a completed request woke, and every 250 ms close
 * what ran out of time.
 */
static void
conns_after(void *arg, double now)
{
	struct conns *cs = arg;

	for (size_t i = 0; i < cs->wake_n; i++) {
		struct conn *c = cs->wake_v[i];

		if (c == NULL)
			continue;	/* closed meanwhile */
		c->wake_pending = 0;
		c->pfd_ready = 1;	/* it ran: it may have answered */
		if (conn_pump(c) == -1)
			conn_close(c);
		else
			conn_update_events(c);
	}
	cs->wake_n = 0;
	if (now - cs->last_expire >= 250) {
		conn_expire(cs, now);
		if (cs->log_limits)
			limits_log(cs, now);
		cs->last_expire = now;
	}
}

struct conns *
conns_start(struct loop *loop, const struct config *cfg,
    const struct conn_limits *lim, const int *listeners, size_t nlisteners,
    int log_limits)
{
	struct conns *cs;
	struct http_ops ops;

	if ((cs = calloc(1, sizeof(*cs))) == NULL ||
	    (cs->listeners = calloc(nlisteners ? nlisteners : 1,
	    sizeof(*cs->listeners))) == NULL) {
		log_err("event loop: out of memory");
		free(cs);
		for (size_t i = 0; i < nlisteners; i++)
			close(listeners[i]);
		return NULL;
	}
	cs->loop = loop;
	cs->lim = lim;
	cs->log_limits = log_limits;
	cs->max_header = cfg->max_header_size;	/* libmicrohttpd's pool is sized once */
	for (size_t i = 0; i < nlisteners; i++) {
		cs->listeners[i].fd = listeners[i];
		cs->listeners[i].cb = conn_on_listener;
		cs->listeners[i].arg = cs;
	}
	cs->nlisteners = nlisteners;
	ops.lookup = conn_lookup;
	ops.wake = conn_wake;
	ops.arg = cs;
	/* libmicrohttpd's hook first: a turn's wake-ups come from its work */
	if ((cs->http = http_start(cfg, loop, &ops)) == NULL) {
		conns_free(cs);
		return NULL;
	}
	cs->hook.before = conns_before;
	cs->hook.after = conns_after;
	cs->hook.arg = cs;
	loop_hook_add(loop, &cs->hook);
	return cs;
}

int
conns_accepting(const struct conns *cs)
{
	return cs->armed && cs->nlisteners > 0 && !cs->stopping &&
	    cs->accept_paused_until == 0;
}

void
conns_stop(struct conns *cs)
{
	for (size_t i = 0; i < cs->nlisteners; i++)
		loop_fd_close(cs->loop, &cs->listeners[i]);
	cs->nlisteners = 0;
	cs->stopping = 1;
}

size_t
conns_count(const struct conns *cs)
{
	return cs->n;
}

void
conns_free(struct conns *cs)
{
	if (cs == NULL)
		return;
	while (cs->head != NULL)
		conn_close(cs->head);
	http_stop(cs->http);
	conns_stop(cs);
	for (size_t i = 0; i < cs->per_ip.cap; i++)
		free(cs->per_ip.slots[i].value);
	strmap_free(&cs->per_ip);
	free(cs->by_fd);
	free(cs->wake_v);
	free(cs->listeners);
	free(cs);
}
