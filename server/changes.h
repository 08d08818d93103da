/* changes.h - which files a burst of inotify events may have changed */
#ifndef MTA_STSD_CHANGES_H
#define MTA_STSD_CHANGES_H

#include <sys/types.h>

#include "strmap.h"

/* a file open for writing (seen by inotify): its previous version stays */
struct changes_held {
	dev_t dev;
	ino_t ino;
};

/*
 * Polling: what one check saw of each file it looked at, by path. A file is
 * applied only when its size and mtime are those the previous check saw:
 * without inotify that is the only sign that its writer is done.
 */
struct changes_polls {
	struct strmap map;		/* path -> struct changes_poll */
};

struct changes_poll {
	char *path;			/* the map's key, owned */
	dev_t dev;
	ino_t ino;
	off_t size;
	long long mtime_ns;
	unsigned unstable;		/* checks in a row that saw it change */
};

/*
 * What a reload triggered by file events needs to look at again. Without
 * it (SIGHUP, polling, start-up, a lost event) a reload compares the stamp
 * of every file; with it, a file whose directory saw no event is known
 * unchanged without a system call, so a reload that changes one domain of
 * 10,000 costs about one domain's work.
 */
struct changes {
	int full;			/* anything may have changed */
	struct strmap dirs;		/* directories with any event */
	struct strmap files;		/* "dir/name" of every named event */
	struct strmap dirs_all;		/* directories where every file counts as
					 * changed: a nameless event, or a
					 * Kubernetes "..data" swap */
	char **keys;			/* the maps' keys, owned */
	size_t nkeys, capkeys;
	struct changes_held *held;	/* files open for writing, owned */
	size_t nheld;
	const struct changes_polls *polled;	/* a poll: the previous
						 * check, or NULL: hold
						 * nothing for polling */
	struct changes_polls *polls;	/* what this build saw (filled by
					 * changes_held), or NULL: not noted */
};

/* Note an event in dir on name (NULL: the directory itself). */
void changes_note(struct changes *c, const char *dir, const char *name);

/* Note that anything may have changed (queue overflow). */
void changes_note_all(struct changes *c);

/*
 * May the file at path have changed? A held file (changes_held) has not:
 * its previous version stays. realdir: the directory its symlinks
 * resolve to, or NULL. exact: events in path's directory name their files
 * reliably (a directory whose paths this program builds itself), so only an
 * event on this very name counts; otherwise any event in the directory
 * does. NULL changes means "anything may have changed". Returns 1 or 0.
 */
int changes_file(const struct changes *c, const char *path,
    const char *realdir, int exact);

/*
 * Is the file at path to stay at its previous version because it may be
 * half written? Yes when it is one of c's held files (open for writing), or
 * in a poll (c->polled) when its size or mtime differ from what the
 * previous check saw. What it sees is noted in c->polls when set. A file that cannot be stat()ed
 * is not held: loading it reports why. Returns 1 or 0.
 */
int changes_held(const struct changes *c, const char *path);

/* Free every entry of p; the struct is zeroed and may be reused. NULL is
 * fine. */
void changes_polls_free(struct changes_polls *p);

/* May the entry name of directory dir (a file or a subdirectory) have
 * changed, or anything below it? Returns 1 or 0. */
int changes_entry(const struct changes *c, const char *dir, const char *name);

/* Free everything; the struct is zeroed and may be reused. NULL is fine. */
void changes_free(struct changes *c);

#endif
