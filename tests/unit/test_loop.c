/* test_loop.c - the event loop: descriptors, hooks, waits, closing during a turn */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

/* what the callbacks saw, in order */
struct trace {
	char log[256];
	struct loop *loop;
	int stop_after;			/* turns before a hook stops the loop */
	int turns;
	long wait;			/* what the before hook asks for */
	double slept_ms;		/* from before to after of the last turn */
	double before_at;
};

static void
note(struct trace *t, const char *what)
{
	size_t n = strlen(t->log);

	snprintf(t->log + n, sizeof(t->log) - n, "%s%s", n ? " " : "", what);
}

/* a readable pipe end: drain it and note which one */
struct end {
	struct loop_fd lf;
	struct trace *t;
	const char *name;
	struct end *victim;		/* closed by this one's callback, or NULL */
};

static void
on_read(struct loop_fd *lf, uint32_t events)
{
	struct end *e = lf->arg;
	char buf[16];

	assert_true(events & EPOLLIN);
	(void)!read(lf->fd, buf, sizeof(buf));
	note(e->t, e->name);
	if (e->victim != NULL)
		loop_fd_close(e->t->loop, &e->victim->lf);
}

static long
hook_before(void *arg, double now)
{
	struct trace *t = arg;

	t->before_at = now;
	note(t, "before");
	return t->wait;
}

static void
hook_after(void *arg, double now)
{
	struct trace *t = arg;

	t->slept_ms = now - t->before_at;
	note(t, "after");
	if (++t->turns >= t->stop_after)
		loop_stop(t->loop);
}

static void
second_after(void *arg, double now)
{
	(void)now;
	note(arg, "second");
}

static void
make_end(struct end *e, struct trace *t, const char *name, int fds[2])
{
	assert_int_equal(pipe(fds), 0);
	memset(e, 0, sizeof(*e));
	e->lf.fd = fds[0];
	e->lf.cb = on_read;
	e->lf.arg = e;
	e->t = t;
	e->name = name;
}

/* a readable descriptor's callback runs between the hooks' before and
 * after, and hooks run in the order they were added */
static void
test_dispatch_and_hook_order(void **state)
{
	struct trace t = { .stop_after = 1, .wait = -1 };
	struct loop_hook h = { hook_before, hook_after, &t, NULL };
	struct loop_hook h2 = { NULL, second_after, &t, NULL };
	struct end a;
	int fds[2];

	(void)state;
	assert_non_null(t.loop = loop_new());
	make_end(&a, &t, "a", fds);
	assert_int_equal(loop_fd_add(t.loop, &a.lf, EPOLLIN), 0);
	loop_hook_add(t.loop, &h);
	loop_hook_add(t.loop, &h2);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(loop_run(t.loop), 0);
	assert_string_equal(t.log, "before a after second");
	close(fds[0]);
	close(fds[1]);
	loop_free(t.loop);
}

/* the wait is the shortest a hook asks for; with nothing to do, a turn
 * sleeps about that long */
static void
test_hook_bounds_the_wait(void **state)
{
	struct trace t = { .stop_after = 1, .wait = 30 };
	struct loop_hook h = { hook_before, hook_after, &t, NULL };

	(void)state;
	assert_non_null(t.loop = loop_new());
	loop_hook_add(t.loop, &h);
	assert_int_equal(loop_run(t.loop), 0);
	assert_true(t.slept_ms >= 25);
	assert_true(t.slept_ms < 900);	/* not the 1 s default */
	loop_free(t.loop);
}

/*
 * Two descriptors ready in the same turn; the first one's callback closes
 * the second: its event of this turn must not be dispatched (its owner may
 * be gone, its number reused).
 */
static void
test_close_drops_pending_event(void **state)
{
	struct trace t = { .stop_after = 1, .wait = -1 };
	struct loop_hook h = { NULL, hook_after, &t, NULL };
	struct end a, b;
	int fa[2], fb[2];

	(void)state;
	assert_non_null(t.loop = loop_new());
	make_end(&a, &t, "a", fa);
	make_end(&b, &t, "b", fb);
	a.victim = &b;
	b.victim = &a;
	assert_int_equal(loop_fd_add(t.loop, &a.lf, EPOLLIN), 0);
	assert_int_equal(loop_fd_add(t.loop, &b.lf, EPOLLIN), 0);
	loop_hook_add(t.loop, &h);
	assert_int_equal(write(fa[1], "x", 1), 1);
	assert_int_equal(write(fb[1], "x", 1), 1);
	assert_int_equal(loop_run(t.loop), 0);
	/* whichever came first closed the other: one callback, then after */
	assert_true(strcmp(t.log, "a after") == 0 || strcmp(t.log, "b after") == 0);
	assert_true(a.lf.fd == -1 || b.lf.fd == -1);
	if (a.lf.fd != -1)
		close(a.lf.fd);
	if (b.lf.fd != -1)
		close(b.lf.fd);
	close(fa[1]);
	close(fb[1]);
	loop_free(t.loop);
}

/* interest can be changed and dropped: a descriptor watched for nothing,
 * or no longer watched, is not dispatched */
static void
test_interest_changes(void **state)
{
	struct trace t = { .stop_after = 1, .wait = 20 };
	struct loop_hook h = { hook_before, hook_after, &t, NULL };
	struct end a;
	int fds[2];

	(void)state;
	assert_non_null(t.loop = loop_new());
	make_end(&a, &t, "a", fds);
	assert_int_equal(loop_fd_add(t.loop, &a.lf, 0), 0);
	loop_hook_add(t.loop, &h);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(loop_run(t.loop), 0);
	assert_string_equal(t.log, "before after");	/* registered, not wanted */

	t.log[0] = '\0';
	t.turns = 0;
	loop_fd_set(t.loop, &a.lf, EPOLLIN);
	assert_int_equal(a.lf.events, EPOLLIN);
	assert_int_equal(loop_run(t.loop), 0);
	assert_string_equal(t.log, "before a after");

	t.log[0] = '\0';
	t.turns = 0;
	assert_int_equal(write(fds[1], "y", 1), 1);
	loop_fd_del(t.loop, &a.lf);
	assert_int_equal(loop_run(t.loop), 0);
	assert_string_equal(t.log, "before after");	/* no longer watched */
	close(fds[0]);
	close(fds[1]);
	loop_free(t.loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_hook_order),
		cmocka_unit_test(test_hook_bounds_the_wait),
		cmocka_unit_test(test_close_drops_pending_event),
		cmocka_unit_test(test_interest_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
