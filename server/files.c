/* files.c - small files written whole and read whole: the atomic replace, the
 * exclusive create, the bounded read (the storage directory's one writer) */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* write all of data to fd */
static int
files_write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int
files_write_temp(const char *path, const void *data, size_t len, char *tmp,
    size_t tmplen)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	int fd, n, saved;

	/* ".<name>.XXXXXX" beside path: same file system (rename and link
	 * need it), and a dot no name the storage holds begins with */
	n = snprintf(tmp, tmplen, "%.*s.%s.XXXXXX", (int)dirlen, path,
	    path + dirlen);
	if (n < 0 || (size_t)n >= tmplen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -1;
	if (fchmod(fd, 0600) == -1 || files_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

void
files_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
}

int
files_write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];

	if (files_write_temp(path, data, len, tmp, sizeof(tmp)) == -1)
		return -1;
	if (rename(tmp, path) == -1) {
		int saved = errno;

		unlink(tmp);
		errno = saved;
		return -1;
	}
	files_sync_dir(path);
	return 0;
}

int
files_create_exclusive(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	int rc, saved;

	if (files_write_temp(path, data, len, tmp, sizeof(tmp)) == -1)
		return -1;
	/* link() fails with EEXIST when path exists, whatever it is (even a
	 * dangling symlink), and never shows path without its content */
	rc = link(tmp, path) == 0 ? 1 : errno == EEXIST ? 0 : -1;
	saved = errno;
	unlink(tmp);
	if (rc == 1)
		files_sync_dir(path);
	errno = saved;
	return rc;
}

char *
files_read(const char *path, size_t max, int flags, size_t *len)
{
	struct stat sb;
	size_t got = 0;
	char *buf;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    (flags & FILES_NOFOLLOW ? O_NOFOLLOW : 0));
	if (fd == -1)
		return NULL;
	if (fstat(fd, &sb) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size < 0 ||
	    (unsigned long long)sb.st_size > max) {
		close(fd);
		errno = S_ISREG(sb.st_mode) ? EFBIG : EINVAL;
		return NULL;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			close(fd);
			explicit_bzero(buf, got);
			free(buf);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;		/* shorter than it was: take what is there */
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (len != NULL)
		*len = got;
	return buf;
}
