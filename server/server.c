/* server.c - the workers: listening sockets, threads, signals, start and stop */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acmed.h"
#include "admin.h"
#include "conn.h"
#include "http.h"
#include "http01.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "reload.h"
#include "snapshot.h"

/*
 * One event-loop thread. Worker 0 is the main thread: it also owns signals,
 * the admin listener and reloads. Every worker has its own listening
 * sockets (SO_REUSEPORT: the kernel spreads connections), loop,
 * connections (with their libmicrohttpd daemon) and current snapshot;
 * workers share nothing mutable but atomic counters, the limits and this
 * mailbox, through which worker 0 hands each of them every new snapshot and
 * the stop order.
 */
struct worker {
	unsigned id;
	pthread_t thread;
	int *listeners;			/* bound, until its connections take them */
	size_t nlisteners;
	struct loop *loop;
	struct conns *conns;
	struct loop_hook hook;
	struct loop_fd ctl;		/* eventfd: the mailbox has something */
	pthread_mutex_t lock;
	struct snapshot *incoming;	/* one reference, or NULL */
	int stop;			/* the mailbox's stop order */
	int stopping;			/* a stop began */
	double stop_deadline;		/* then: shutdown_timeout from it */
	int failed;			/* worker 0: the first load failed */
	int rc;
};

/* the process's workers and what they share */
struct server {
	struct worker *workers;
	unsigned nworkers;
	struct conn_limits limits;	/* changed by reloads */
	struct loop_fd sig;		/* signalfd, watched by worker 0 */
	struct admin admin;		/* the admin listener, on worker 0 */
	struct http01 http01;		/* the HTTP-01 listener, on worker 0 */
	const struct config *cfg;	/* read while the loops start, not after */
};

static struct server srv = { .sig = { .fd = -1 } };

/* the ACME manager's reload requests, from its thread to worker 0: the
 * reason under a lock, then a write to the eventfd worker 0 watches */
static struct {
	struct loop_fd lf;
	pthread_mutex_t lock;
	char why[320];			/* the latest reason given */
	char asked[320];		/* worker 0's copy, passed to reload */
} acme_wake = { .lf = { .fd = -1 }, .lock = PTHREAD_MUTEX_INITIALIZER };

/* the manager thread asks for a reload (thread-safe) */
static void
server_acme_reload(const char *why)
{
	uint64_t one = 1;

	pthread_mutex_lock(&acme_wake.lock);
	snprintf(acme_wake.why, sizeof(acme_wake.why), "%s", why);
	pthread_mutex_unlock(&acme_wake.lock);
	(void)!write(acme_wake.lf.fd, &one, sizeof(one));
}

/* worker 0 turns the manager's request into a reload */
static void
server_on_acme(struct loop_fd *lf, uint32_t events)
{
	uint64_t v;

	(void)events;
	(void)!read(lf->fd, &v, sizeof(v));
	pthread_mutex_lock(&acme_wake.lock);
	memcpy(acme_wake.asked, acme_wake.why, sizeof(acme_wake.asked));
	pthread_mutex_unlock(&acme_wake.lock);
	reload_request(acme_wake.asked);
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
	/* the kernel's limit (net.core.somaxconn caps it): a burst of
	 * handshakes abandoned at once (a flood) must not fill the queue and
	 * make a sender's SYN wait for its 1 s retransmission */
	if (listen(fd, SOMAXCONN) == -1) {
		log_err("listen %s: %s", la->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
server_bind(const struct config *cfg)
{
	srv.nworkers = cfg->workers ? cfg->workers : 1;
	if ((srv.workers = calloc(srv.nworkers, sizeof(*srv.workers))) == NULL)
		return -1;
	for (unsigned w = 0; w < srv.nworkers; w++) {
		struct worker *wk = &srv.workers[w];

		wk->id = w;
		wk->ctl.fd = -1;
		pthread_mutex_init(&wk->lock, NULL);
		if ((wk->listeners = calloc(cfg->nlisten, sizeof(int))) == NULL)
			return -1;
		for (size_t i = 0; i < cfg->nlisten; i++) {
			int fd = bind_one(&cfg->listen[i], srv.nworkers > 1);

			if (fd == -1)
				return -1;
			wk->listeners[wk->nlisteners++] = fd;
		}
	}
	if (admin_start(&srv.admin, cfg) == -1)
		return -1;
	return http01_start(&srv.http01, cfg);
}

/* stop accepting; the loop ends when the last request in flight is done or
 * shutdown_timeout has passed (worker_before) */
static void
worker_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = 1;
	w->stop_deadline = loop_now_ms() + srv.limits.shutdown_ms;
	conns_stop(w->conns);
}

/* worker 0 tells the others to stop */
static void
stop_workers(void)
{
	for (unsigned w = 1; w < srv.nworkers; w++) {
		uint64_t one = 1;

		pthread_mutex_lock(&srv.workers[w].lock);
		srv.workers[w].stop = 1;
		pthread_mutex_unlock(&srv.workers[w].lock);
		(void)!write(srv.workers[w].ctl.fd, &one, sizeof(one));
	}
}

/* the live keys of cfg, to every subsystem that reads them (at start and
 * with each snapshot a reload publishes) */
static void
server_configure(const struct config *cfg)
{
	conn_limits_apply(&srv.limits, cfg, srv.nworkers);
	http_configure(cfg);
	admin_configure(&srv.admin, cfg);
}

/*
 * Reload's hand-over (on worker 0): apply the limits of s's configuration
 * and make s current in every worker, the others through their mailbox.
 * The caller's reference passes on.
 */
static void
server_publish(void *arg, struct snapshot *s)
{
	(void)arg;
	server_configure(&s->cfg);
	for (unsigned w = 1; w < srv.nworkers; w++) {
		struct worker *wk = &srv.workers[w];
		uint64_t one = 1;

		pthread_mutex_lock(&wk->lock);
		snapshot_unref(wk->incoming);
		wk->incoming = snapshot_ref(s);
		pthread_mutex_unlock(&wk->lock);
		(void)!write(wk->ctl.fd, &one, sizeof(one));
	}
	metrics_snapshot(s);
	snapshot_publish(s);
	/* the certificate manager starts with the first snapshot that has
	 * [acme] directory, and hears of every one after */
	if (s->cfg.acme.directory != NULL && acme_wake.lf.fd != -1)
		acmed_start(&s->cfg, server_acme_reload);
	acmed_update(&s->cfg, s);
}

/* reload's word that the first load failed: nothing to serve, exit */
static void
server_load_failed(void *arg)
{
	struct worker *w = arg;

	w->failed = 1;
	stop_workers();
	loop_stop(w->loop);
}

/* a worker other than 0 reads its mailbox */
static void
worker_on_mailbox(struct loop_fd *lf, uint32_t events)
{
	struct worker *w = lf->arg;
	struct snapshot *s;
	uint64_t v;
	int stop;

	(void)events;
	(void)!read(lf->fd, &v, sizeof(v));
	pthread_mutex_lock(&w->lock);
	s = w->incoming;
	w->incoming = NULL;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	if (s != NULL)
		snapshot_publish(s);
	if (stop)
		worker_stop(w);
}

/* every signal the process handles, on worker 0 */
static void
server_on_signal(struct loop_fd *lf, uint32_t events)
{
	struct worker *w = lf->arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(lf->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!w->stopping)
				log_info("%s: shutting down", strsignal(
				    (int)si.ssi_signo));
			worker_stop(w);
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

/* before the loop waits: a stopping worker ends when its connections are
 * gone (conns close the idle ones) or its time is up */
static long
worker_before(void *arg, double now)
{
	struct worker *w = arg;

	if (!w->stopping)
		return -1;
	if (conns_count(w->conns) == 0)
		loop_stop(w->loop);
	else if (now >= w->stop_deadline) {
		log_info("shutdown_timeout (%u s) passed: closing %zu "
		    "connection(s) with a request in flight",
		    (unsigned)srv.limits.shutdown_ms / 1000,
		    conns_count(w->conns));
		loop_stop(w->loop);
	}
	return -1;
}

/* after each turn, worker 0 tells the admin listener whether it is ready */
static void
worker_after(void *arg, double now)
{
	struct worker *w = arg;

	(void)now;
	admin_set_ready(&srv.admin, conns_accepting(w->conns));
}

/*
 * One worker's event loop, until it stops. Each subsystem registers its
 * descriptors and hooks with the loop; the hooks run in this order:
 * libmicrohttpd, the connections, the worker, then (worker 0) the admin
 * listener and reloads.
 */
static int
worker_loop(struct worker *w)
{
	struct reload_ops ops = { server_publish, server_load_failed, w };
	int main_worker = w->id == 0, rc = -1;

	if ((w->loop = loop_new()) == NULL)
		return -1;
	w->conns = conns_start(w->loop, srv.cfg, &srv.limits, w->listeners,
	    w->nlisteners, main_worker);
	w->nlisteners = 0;		/* the connections' now */
	if (w->conns == NULL)
		goto out;
	w->hook.before = worker_before;
	w->hook.after = main_worker ? worker_after : NULL;
	w->hook.arg = w;
	loop_hook_add(w->loop, &w->hook);
	if (main_worker) {
		srv.sig.cb = server_on_signal;
		srv.sig.arg = w;
		if (loop_fd_add(w->loop, &srv.sig, EPOLLIN) == -1 ||
		    admin_attach(&srv.admin, w->loop) == -1 ||
		    http01_attach(&srv.http01, w->loop) == -1)
			goto out;
		acme_wake.lf.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		acme_wake.lf.cb = server_on_acme;
		acme_wake.lf.arg = w;
		if (acme_wake.lf.fd == -1 ||
		    loop_fd_add(w->loop, &acme_wake.lf, EPOLLIN) == -1)
			goto out;
		reload_start(w->loop, &ops);
	} else {
		w->ctl.cb = worker_on_mailbox;
		w->ctl.arg = w;
		if (loop_fd_add(w->loop, &w->ctl, EPOLLIN) == -1)
			goto out;
	}
	rc = loop_run(w->loop);
	if (w->failed)
		rc = -1;
out:
	if (rc == -1 && main_worker)
		stop_workers();
	conns_free(w->conns);
	w->conns = NULL;
	if (main_worker) {
		acmed_stop();		/* may still ask for a reload */
		reload_stop();		/* its descriptors are in this loop */
		if (acme_wake.lf.fd != -1)
			close(acme_wake.lf.fd);
		acme_wake.lf.fd = -1;
	}
	loop_free(w->loop);
	w->loop = NULL;
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

	srv.cfg = cfg;
	server_configure(cfg);
	/* every domain carries its ready answer, built once per load */
	snapshot_set_responder(http_policy_response, http_response_free);
	signal(SIGPIPE, SIG_IGN);
	/* blocked in every thread (they inherit the mask); worker 0 reads
	 * them from a signalfd */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((srv.sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		log_err("signalfd: %s", strerror(errno));
		return -1;
	}
	for (unsigned i = 1; i < srv.nworkers; i++) {
		srv.workers[i].ctl.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (srv.workers[i].ctl.fd == -1 ||
		    pthread_create(&srv.workers[i].thread, NULL, worker_main,
		    &srv.workers[i]) != 0) {
			log_err("cannot start worker %u: %s", i, strerror(errno));
			if (srv.workers[i].ctl.fd != -1)
				close(srv.workers[i].ctl.fd);
			srv.nworkers = i;	/* the others are stopped below */
			break;
		}
	}
	rc = worker_loop(&srv.workers[0]);
	stop_workers();
	for (unsigned i = 1; i < srv.nworkers; i++) {
		pthread_join(srv.workers[i].thread, NULL);
		if (srv.workers[i].rc != 0)
			rc = -1;
		snapshot_unref(srv.workers[i].incoming);
		srv.workers[i].incoming = NULL;
		close(srv.workers[i].ctl.fd);
	}
	metrics_snapshot(NULL);
	if (rc == 0)
		log_info("stopped");
	close(srv.sig.fd);
	srv.sig.fd = -1;
	server_release();
	return rc;
}

void
server_release(void)
{
	for (unsigned i = 0; srv.workers != NULL && i < srv.nworkers; i++) {
		for (size_t k = 0; k < srv.workers[i].nlisteners; k++)
			close(srv.workers[i].listeners[k]);
		free(srv.workers[i].listeners);
		pthread_mutex_destroy(&srv.workers[i].lock);
	}
	free(srv.workers);
	srv.workers = NULL;
	srv.nworkers = 0;
	admin_stop(&srv.admin);
	http01_stop(&srv.http01);
	reload_stop();
}
