/* changes.h - which files a burst of inotify events may have changed */
#ifndef MTA_STSD_CHANGES_H
#define MTA_STSD_CHANGES_H

#include "strmap.h"

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
};

/* Note an event in dir on name (NULL: the directory itself). */
void changes_note(struct changes *c, const char *dir, const char *name);

/* Note that anything may have changed (queue overflow). */
void changes_note_all(struct changes *c);

/*
 * May the file at path have changed? realdir: the directory its symlinks
 * resolve to, or NULL. exact: events in path's directory name their files
 * reliably (a directory whose paths this program builds itself), so only an
 * event on this very name counts; otherwise any event in the directory
 * does. NULL changes means "anything may have changed". Returns 1 or 0.
 */
int changes_file(const struct changes *c, const char *path,
    const char *realdir, int exact);

/* May the entry name of directory dir (a file or a subdirectory) have
 * changed, or anything below it? Returns 1 or 0. */
int changes_entry(const struct changes *c, const char *dir, const char *name);

/* Free everything; the struct is zeroed and may be reused. NULL is fine. */
void changes_free(struct changes *c);

#endif
