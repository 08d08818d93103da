/* loop.c - one thread's event loop: descriptors and hooks register with it */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOOP_EVENTS 128			/* events taken per wait */
#define LOOP_MAX_WAIT_MS 1000		/* the longest wait, whatever hooks say */

/*
 * The loop knows descriptors and hooks, never what they belong to: a
 * subsystem that needs the loop registers with it. Events are dispatched
 * through epoll's data pointer to the struct loop_fd, so an owner that goes
 * away in the middle of a turn must tell the loop (loop_fd_del or
 * loop_fd_close), which then drops the events of this turn still to come
 * for it.
 */
struct loop {
	int epfd;
	int stop;
	int nevs, cur;			/* the events of this turn; the one now */
	struct epoll_event evs[LOOP_EVENTS];
	struct loop_hook *hooks, *hooks_tail;
};

double
loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

struct loop *
loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		log_err("event loop: out of memory");
		return NULL;
	}
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_err("event loop: %s", strerror(errno));
		free(l);
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l);
}

int
loop_fd_add(struct loop *l, struct loop_fd *lf, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = lf;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, lf->fd, &ev) == -1)
		return -1;
	lf->events = events;
	return 0;
}

void
loop_fd_set(struct loop *l, struct loop_fd *lf, uint32_t events)
{
	struct epoll_event ev;

	if (lf->events == events)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = lf;
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, lf->fd, &ev);
	lf->events = events;
}

/* forget the events of this turn not yet dispatched to lf */
static void
loop_forget(struct loop *l, const struct loop_fd *lf)
{
	for (int i = l->cur + 1; i < l->nevs; i++)
		if (l->evs[i].data.ptr == lf)
			l->evs[i].data.ptr = NULL;
}

void
loop_fd_del(struct loop *l, struct loop_fd *lf)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, lf->fd, NULL);
	lf->events = 0;
	loop_forget(l, lf);
}

void
loop_fd_close(struct loop *l, struct loop_fd *lf)
{
	if (lf->fd == -1)
		return;
	close(lf->fd);		/* leaves the epoll set with it */
	lf->fd = -1;
	lf->events = 0;
	if (l != NULL)
		loop_forget(l, lf);
}

void
loop_hook_add(struct loop *l, struct loop_hook *h)
{
	h->next = NULL;
	if (l->hooks_tail != NULL)
		l->hooks_tail->next = h;
	else
		l->hooks = h;
	l->hooks_tail = h;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

int
loop_run(struct loop *l)
{
	struct loop_hook *h;

	l->stop = 0;
	for (;;) {
		double now = loop_now_ms();
		long timeout = LOOP_MAX_WAIT_MS, t;
		int n;

		for (h = l->hooks; h != NULL; h = h->next)
			if (h->before != NULL &&
			    (t = h->before(h->arg, now)) >= 0 && t < timeout)
				timeout = t;
		if (l->stop)
			break;
		n = epoll_wait(l->epfd, l->evs, LOOP_EVENTS, (int)timeout);
		if (n == -1 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			return -1;
		}
		l->nevs = n > 0 ? n : 0;
		for (l->cur = 0; l->cur < l->nevs; l->cur++) {
			struct loop_fd *lf = l->evs[l->cur].data.ptr;

			if (lf != NULL)
				lf->cb(lf, l->evs[l->cur].events);
		}
		l->nevs = l->cur = 0;
		now = loop_now_ms();
		for (h = l->hooks; h != NULL; h = h->next)
			if (h->after != NULL)
				h->after(h->arg, now);
		if (l->stop)
			break;
	}
	return 0;
}
