/* trim.c - give back the pages of libraries that are loaded but never called */
#include "trim.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21		/* Linux 5.4 */
#endif

/* the libraries mta-stsd calls itself (by file name prefix) */
static const char *const used[] = {
	"ld-linux", "libc.so", "libm.so", "libpthread.so", "libresolv.so",
	"libmicrohttpd.so", "libinih.so", "libmbedtls.so", "libmbedx509.so",
	"libmbedcrypto.so",
};

int
trim_candidate(const char *line, const char *exe, uintptr_t *start,
    uintptr_t *end)
{
	char perms[8], path[PATH_MAX];
	unsigned long long lo, hi, off;
	const char *base;

	/* start-end perms offset dev inode path */
	if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &lo, &hi, perms,
	    &off, path) != 5 || path[0] != '/' || hi <= lo)
		return 0;
	(void)off;
	if (perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p')
		return 0;	/* writable or shared: not plain library pages */
	if (exe != NULL && strcmp(path, exe) == 0)
		return 0;
	base = strrchr(path, '/') + 1;
	if (strstr(base, ".so") == NULL)
		return 0;	/* not a shared library */
	for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++)
		if (strncmp(base, used[i], strlen(used[i])) == 0)
			return 0;
	*start = (uintptr_t)lo;
	*end = (uintptr_t)hi;
	return 1;
}

/* how many pages of [lo, hi) are resident (mincore); 0 when unknown */
static size_t
trim_resident(uintptr_t lo, uintptr_t hi)
{
	unsigned char vec[1024];
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;

	/* in chunks of as many pages as vec holds: no allocation */
	for (uintptr_t at = lo; at < hi; at += sizeof(vec) * page) {
		size_t len = hi - at < sizeof(vec) * page ? hi - at :
		    sizeof(vec) * page;

		if (mincore((void *)at, len, vec) == -1)
			return 0;
		for (size_t i = 0; i < (len + page - 1) / page; i++)
			n += vec[i] & 1;
	}
	return n;
}

/*
 * The kernel may ignore MADV_PAGEOUT without an error (a caller that neither
 * owns nor may write the file, pages other processes map too): a mapping
 * counts only when fewer of its pages are resident afterwards.
 */
int
trim_unused_libraries(void)
{
	char line[PATH_MAX + 128], exe[PATH_MAX];
	ssize_t n;
	FILE *f;
	int count = 0;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		n = 0;
	exe[n] = '\0';
	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		uintptr_t lo, hi;

		size_t before;

		if (!trim_candidate(line, exe, &lo, &hi))
			continue;
		before = trim_resident(lo, hi);
		if (before > 0 &&
		    madvise((void *)lo, hi - lo, MADV_PAGEOUT) == 0 &&
		    trim_resident(lo, hi) < before)
			count++;
	}
	fclose(f);
	return count;
}
