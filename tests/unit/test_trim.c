/* test_trim.c - which /proc/self/maps lines are pages of libraries never called */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "trim.h"

static const char exe[] = "/usr/sbin/mta-stsd";

static int
cand(const char *line)
{
	uintptr_t lo = 0, hi = 0;

	return trim_candidate(line, exe, &lo, &hi);
}

/* GnuTLS, loaded by libmicrohttpd: its read-only and code mappings */
static void
test_unused_library(void **state)
{
	uintptr_t lo = 0, hi = 0;

	(void)state;
	assert_int_equal(trim_candidate("7f1c2a400000-7f1c2a43e000 r--p 00000000 "
	    "fe:01 1835 /usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n", exe,
	    &lo, &hi), 1);
	assert_true(lo == 0x7f1c2a400000u && hi == 0x7f1c2a43e000u);
	assert_int_equal(cand("7f1c2a43e000-7f1c2a55c000 r-xp 0003e000 fe:01 "
	    "1835 /usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n"), 1);
	assert_int_equal(cand("7f00-8f00 r-xp 0 fe:01 77 "
	    "/usr/lib/x86_64-linux-gnu/libp11-kit.so.0.3.0\n"), 1);
}

/* writable data, the executable, the libraries mta-stsd calls, anonymous
 * memory and malformed lines are left alone */
static void
test_kept(void **state)
{
	(void)state;
	assert_int_equal(cand("7f00-8f00 rw-p 00000000 fe:01 1835 "
	    "/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n"), 0);
	assert_int_equal(cand("7f00-8f00 r-xs 00000000 fe:01 1835 "
	    "/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n"), 0);
	assert_int_equal(cand("5600-5700 r-xp 00000000 fe:01 9 "
	    "/usr/sbin/mta-stsd\n"), 0);
	assert_int_equal(cand("7f00-8f00 r-xp 00000000 fe:01 10 "
	    "/usr/lib/x86_64-linux-gnu/libc.so.6\n"), 0);
	assert_int_equal(cand("7f00-8f00 r-xp 00000000 fe:01 11 "
	    "/usr/lib/x86_64-linux-gnu/libmicrohttpd.so.12.60.0\n"), 0);
	assert_int_equal(cand("7f00-8f00 r--p 00000000 fe:01 12 "
	    "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"), 0);
	assert_int_equal(cand("7f00-8f00 r--p 00000000 00:00 0 \n"), 0);
	assert_int_equal(cand("7ffd-7ffe r-xp 00000000 00:00 0 [vdso]\n"), 0);
	assert_int_equal(cand("7f00-8f00 r--p 00000000 fe:01 13 "
	    "/usr/share/locale/locale-archive\n"), 0);
	assert_int_equal(cand("garbage\n"), 0);
	assert_int_equal(cand("8f00-7f00 r--p 0 fe:01 1 /lib/libx.so\n"), 0);
}

/*
 * A file named like a library nobody else maps, written and synced (clean
 * pages), mapped read-only and read through so its pages are resident; the
 * file is in the current directory (a disk, not tmpfs, whose pages could
 * not be paged out without swap). Returns the mapping or NULL.
 */
#define FAKE_LEN (64 * 4096)
static void *
map_fake_library(const char *path)
{
	static char page[4096];
	volatile const char *p;
	void *m;
	int fd;

	memset(page, 'x', sizeof(page));
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644)) == -1)
		return NULL;
	for (int i = 0; i < FAKE_LEN / 4096; i++)
		if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
			return NULL;
	fsync(fd);
	m = mmap(NULL, FAKE_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	p = m;
	for (int i = 0; i < FAKE_LEN; i += 4096)
		(void)p[i];
	return m;
}

/* the owner of a library file may have its pages reclaimed: counted */
static void
test_reclaimed_counted(void **state)
{
	struct statfs fs;
	char path[64];
	void *m;
	int n;

	(void)state;
	if (statfs(".", &fs) == 0 && fs.f_type == 0x01021994) {	/* TMPFS_MAGIC */
		printf("# skipped: the current directory is on tmpfs, whose pages "
		    "cannot be paged out without swap\n");
		skip();
	}
	snprintf(path, sizeof(path), "./libtrimtest-%ld.so", (long)getpid());
	m = map_fake_library(path);
	unlink(path);
	assert_non_null(m);
	n = trim_unused_libraries();
	munmap(m, FAKE_LEN);
	assert_true(n >= 1);
}

/*
 * The kernel reclaims nothing for a process that neither owns nor may
 * write the file (an unprivileged container): then no mapping may be
 * counted as given back. Needs root to make a file the child does not own.
 */
static void
test_nothing_reclaimed_unprivileged(void **state)
{
	char path[64];
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		printf("# skipped: needs root to map a file owned by another user\n");
		skip();
	}
	snprintf(path, sizeof(path), "./libtrimtest-%ld.so", (long)getpid());
	if ((pid = fork()) == 0) {
		void *m = map_fake_library(path);	/* root's file, 0644 */
		int n;

		if (m == NULL || setgid(65534) == -1 || setuid(65534) == -1)
			_exit(100);
		n = trim_unused_libraries();
		if (n != 0)
			fprintf(stderr, "trim_unused_libraries counted %d mapping(s) "
			    "given back as an unprivileged user, expected 0\n", n);
		_exit(n == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unused_library),
		cmocka_unit_test(test_kept),
		cmocka_unit_test(test_reclaimed_counted),
		cmocka_unit_test(test_nothing_reclaimed_unprivileged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
