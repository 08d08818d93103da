/* loop.h - one thread's event loop: descriptors and hooks register with it */
#ifndef MTA_STSD_LOOP_H
#define MTA_STSD_LOOP_H

#include <stdint.h>

struct loop;
struct loop_fd;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, ...) that fired on lf. */
typedef void (*loop_fd_cb)(struct loop_fd *lf, uint32_t events);

/*
 * A descriptor watched by a loop. The owner keeps the struct (usually inside
 * its own object, like OpenBSD's struct event) and fills fd, cb and arg;
 * events is the interest now registered (the loop keeps it).
 */
struct loop_fd {
	int fd;
	uint32_t events;
	loop_fd_cb cb;
	void *arg;
};

/*
 * Work a subsystem does on every turn of the loop, like Redis' beforeSleep:
 * before() runs before the loop waits and returns the longest wait in
 * milliseconds it allows (-1: no limit of its own); after() runs once the
 * events that came have been dispatched. Either may be NULL. Hooks run in
 * the order they were added.
 */
struct loop_hook {
	long (*before)(void *arg, double now_ms);
	void (*after)(void *arg, double now_ms);
	void *arg;
	struct loop_hook *next;		/* the loop's list */
};

/* A new loop (one epoll set), or NULL with the reason logged. */
struct loop *loop_new(void);

/* Free l; descriptors still registered are not closed (their owners do). */
void loop_free(struct loop *l);

/* Watch lf->fd for events (0: registered, nothing wanted yet). Returns 0 or -1. */
int loop_fd_add(struct loop *l, struct loop_fd *lf, uint32_t events);

/* Change what lf is watched for (nothing happens when it is unchanged). */
void loop_fd_set(struct loop *l, struct loop_fd *lf, uint32_t events);

/* Stop watching lf; events of this turn not yet dispatched to it are dropped. */
void loop_fd_del(struct loop *l, struct loop_fd *lf);

/* Close lf->fd (which also ends the watch) and drop its undispatched events;
 * lf->fd becomes -1. l may be NULL (the loop is gone: only close). */
void loop_fd_close(struct loop *l, struct loop_fd *lf);

/* Run h on every turn from now on (h stays the caller's). */
void loop_hook_add(struct loop *l, struct loop_hook *h);

/*
 * Turn until loop_stop: ask the hooks how long to wait (at most 1 s), wait
 * for events, dispatch them, run the hooks' after(). Returns 0 after
 * loop_stop, -1 when waiting fails (logged).
 */
int loop_run(struct loop *l);

/* Make loop_run return at the end of this turn (or before the next wait). */
void loop_stop(struct loop *l);

/* Milliseconds on a monotonic clock. */
double loop_now_ms(void);

#endif
