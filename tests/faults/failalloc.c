/*
 * failalloc.c - LD_PRELOAD shim: make exactly one allocation fail.
 *
 *     FAILALLOC_N=N LD_PRELOAD=build/failalloc.so build/mta-stsd -t -c FILE
 *
 * Counts the calls to malloc, calloc and realloc made from the moment main()
 * is entered (the loader's and the libraries' constructors are not counted:
 * their failures are not ours to handle), and makes call number N return
 * NULL with errno ENOMEM; every other call is served by glibc. N = 0 fails
 * none. With FAILALLOC_COUNT=FILE the number of calls counted is written to
 * FILE at exit; with FAILALLOC_TRACE=FILE the stack of the failed call is
 * written there (for the report of a test that then crashes).
 *
 * glibc exports its allocator as __libc_malloc and friends, so no dlsym()
 * (which allocates) is needed to reach it. Thread-safe: the count is atomic.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

typedef int (*main_fn)(int, char **, char **);

static main_fn real_main;
static unsigned long fail_at;
static unsigned long counted;
static int armed;
static int in_trace;

/* count one call; is it the one to fail? */
static int
should_fail(void)
{
	unsigned long n;

	if (!__atomic_load_n(&armed, __ATOMIC_RELAXED))
		return 0;
	n = __atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
	if (n != fail_at || fail_at == 0)
		return 0;
	if (!in_trace) {
		const char *path = getenv("FAILALLOC_TRACE");
		void *frames[64];
		int fd, nf;

		in_trace = 1;	/* backtrace() may allocate: those calls pass */
		if (path != NULL &&
		    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1) {
			dprintf(fd, "allocation %lu failed here:\n", n);
			nf = backtrace(frames, 64);
			backtrace_symbols_fd(frames, nf, fd);
			close(fd);
		}
		in_trace = 0;
	}
	errno = ENOMEM;
	return 1;
}

void *
malloc(size_t size)
{
	return should_fail() ? NULL : __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
	return should_fail() ? NULL : __libc_realloc(p, size);
}

static void
report(void)
{
	const char *path = getenv("FAILALLOC_COUNT");
	int fd;

	__atomic_store_n(&armed, 0, __ATOMIC_RELAXED);
	if (path != NULL &&
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1) {
		dprintf(fd, "%lu\n", __atomic_load_n(&counted, __ATOMIC_RELAXED));
		close(fd);
	}
}

static int
counted_main(int argc, char **argv, char **envp)
{
	const char *n = getenv("FAILALLOC_N");

	fail_at = n != NULL ? strtoul(n, NULL, 10) : 0;
	atexit(report);
	__atomic_store_n(&armed, 1, __ATOMIC_RELAXED);
	return real_main(argc, argv, envp);
}

/* glibc's start-up calls this with main: hand it counted_main instead */
int __libc_start_main(main_fn main, int argc, char **argv,
    void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
    void *stack_end);

int
__libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
    void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
	int (*next)(main_fn, int, char **, void (*)(void), void (*)(void),
	    void (*)(void), void *);

	*(void **)&next = dlsym(RTLD_NEXT, "__libc_start_main");
	real_main = main;
	return next(counted_main, argc, argv, init, fini, rtld_fini, stack_end);
}
