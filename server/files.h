/* files.h - small files written whole and read whole: the atomic replace, the
 * exclusive create, the bounded read (the storage directory's one writer) */
#ifndef MTA_STSD_FILES_H
#define MTA_STSD_FILES_H

#include <stddef.h>

/*
 * Every writer here puts the data in a temporary file beside the target
 * first (a name beginning with a dot, mode 0600, fsync'd), so a reader never
 * sees a file half written: the file appears whole or not at all. None of
 * these functions logs; they return -1 with errno set and the caller says
 * what failed.
 */

/* Write len bytes of data to a new temporary file in path's directory
 * (".<name>.XXXXXX", 0600, fsync'd and closed); its name in tmp. Returns 0,
 * or -1 with errno set (nothing is left behind). */
int files_write_temp(const char *path, const void *data, size_t len,
    char *tmp, size_t tmplen);

/* Replace path with len bytes of data atomically: a temporary file,
 * renamed over path, then the directory fsync'd. Returns 0, or -1 with
 * errno set (path unchanged). */
int files_write_atomic(const char *path, const void *data, size_t len);

/* Create path holding len bytes of data only when there is no path yet: a
 * temporary file, link()ed to path (atomic even between processes and
 * hosts sharing the directory: exactly one creator wins), then the
 * directory fsync'd. Returns 1 created, 0 when path already exists (it is
 * left as it is), -1 with errno set. */
int files_create_exclusive(const char *path, const void *data, size_t len);

/* fsync the directory holding path, so a rename or link in it is on disk. */
void files_sync_dir(const char *path);

#define FILES_NOFOLLOW 1	/* files_read: a symbolic link is refused (ELOOP) */

/* Read the regular file path whole, at most max bytes, into a malloc'd
 * NUL-terminated buffer; *len (when not NULL) without the NUL. NULL with
 * errno set: ENOENT missing, EFBIG larger than max, EINVAL not a regular
 * file, ELOOP a symlink with FILES_NOFOLLOW. A buffer read in part is wiped
 * before it is freed (it may hold a key). */
char *files_read(const char *path, size_t max, int flags, size_t *len);

#endif
