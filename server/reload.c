/* reload.c - what triggers a reload, and the build-aside-then-swap step */
#include "reload.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/build_info.h>

#include "certset.h"
#include "changes.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "snapshot.h"
#include "strmap.h"

/*
 * When a change is built. A file that was closed after writing, renamed
 * into place, deleted, re-pointed (a symlink) or chmod'ed is complete: the
 * build follows SETTLE_MS after the last such event (a burst, like
 * certbot's two symlinks or a deploy of many files, is one build).
 *
 * A file changed in place and still open for writing (modified, or created
 * empty, and not yet closed) may be half written, and a sender caches what
 * it fetches for max_age: such a file is never read. Every build keeps its
 * previous version (or leaves a new one out), however long the writer
 * takes; closing it (IN_CLOSE_WRITE) is the change that is built. Files are
 * followed by device and inode, so a file renamed into place is complete at
 * once unless its writer still holds it open. After WRITING_LOG_MS one info
 * line names the file. With polling, changes_held() applies the same rule
 * using the size and mtime of two checks in a row.
 */
#define SETTLE_MS 20
#define WRITING_LOG_MS 1000
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
	IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

static const char poll_reason[] = "poll";

/*
 * One watched directory. In a directory watched for everything in it
 * (policy_dir, cert_dir and its directories, the real directory behind a
 * symlinked file) any event counts. In the directory of a file named in the
 * configuration, only events on those files' names count, and names starting
 * with ".." (the Kubernetes volume's ..data swap): a log file written next
 * to the configuration must not trigger reloads.
 */
struct watch {
	char *dir;
	int wd;
	int all;
	char **names;
	size_t nnames;
};

static const char change_reason[] = "file change";

/* a file open for writing, as its events named it */
struct writing {
	char *path;
	dev_t dev;
	ino_t ino;
	double since;			/* loop_now_ms() of its first event */
	int logged;			/* "still being written" said */
};

struct build_job;

/*
 * Everything reloads keep between loop turns, by concern. One instance, used
 * only on worker 0's thread (the build thread reads only its job).
 */
struct reloader {
	/* what was started with */
	char *config_path;
	const struct config *boot_cfg;	/* what restart keys still use */
	/* the loop: where finished snapshots go, what is registered there */
	struct loop *loop;
	struct reload_ops ops;
	struct loop_fd ino_lf;		/* inotify */
	struct loop_fd done_lf;		/* eventfd: a build is done */
	struct loop_hook hook;		/* the settle and poll timers */
	/* the watch set */
	struct watch *watch_v;
	size_t watch_n;
	struct strmap want_map;		/* dir -> struct watch *, syncing */
	/* "parent/name" of policy_dir and cert_dir as their parents' events
	 * name them: when one is made, renamed or deleted there, the watches
	 * follow */
	char *reappear[2];
	/* triggers */
	const char *pending_why;	/* a reload is due now */
	struct changes *seen;		/* file events since the last build */
	int other_trigger;		/* SIGHUP or a poll is due as well */
	int force_full;			/* the last build failed */
	const char *change_why;		/* a change seen: due once settled */
	double change_last;
	double next_poll;
	struct changes_polls polled;	/* what the last poll saw */
	/* files open for writing, as their events named them */
	struct writing *writing_v;
	size_t nwriting, capwriting;
	/* builds */
	struct build_job *job;		/* the build running, or NULL */
	int threaded;			/* builds run on a thread */
	unsigned long generation;	/* of the snapshot being served */
};

static struct reloader rl = {
	.ino_lf = { .fd = -1 }, .done_lf = { .fd = -1 }, .threaded = -1,
	.generation = 1
};


void
reload_init(const char *path, const struct config *cfg)
{
	rl.config_path = strdup(path);
	rl.boot_cfg = cfg;
}

/*
 * One [server] key a reload found changed (config_diff): a live or rebuild
 * key is applied and said at info; a restart key is said once, when the
 * file comes to differ from what runs, with what still runs.
 */
static void
report_change(void *arg, const struct config_key *k, const char *was,
    const char *now)
{
	const struct config *cfg = arg;
	char running[512];
	const char *sec = k->section == CONFIG_SECTION_ACME ? "[acme] " : "";

	if (k->section != CONFIG_SECTION_SERVER &&
	    k->section != CONFIG_SECTION_ACME)
		return;
	if (k->apply != CONFIG_APPLY_RESTART) {
		log_info("reload: %s%s changed from %s to %s", sec, k->name, was,
		    now);
		return;
	}
	config_key_format(k, rl.boot_cfg, running, sizeof(running));
	if (!config_key_differs(k, rl.boot_cfg, cfg))
		log_info("reload: %s%s is %s again, as running", sec, k->name, now);
	else
		log_warn("reload: %s%s changed from %s to %s; restart mta-stsd to "
		    "apply (until then it stays %s)", sec, k->name, running, now,
		    running);
}

static void
watch_free(struct watch *w)
{
	free(w->dir);
	for (size_t i = 0; i < w->nnames; i++)
		free(w->names[i]);
	free(w->names);
}

/* want dir watched: for every name (name NULL) or for that one name */
static void
watch_want(struct watch **v, size_t *n, const char *dir, const char *name)
{
	struct watch *w = strmap_get(&rl.want_map, dir);
	char **names;

	if (dir == NULL || *dir == '\0')
		return;
	if (w == NULL) {
		struct watch *nv = realloc(*v, (*n + 1) * sizeof(*nv));

		if (nv == NULL)
			return;
		/* the map holds pointers into the array: rebuild it on move */
		if (nv != *v) {
			*v = nv;
			strmap_free(&rl.want_map);
			for (size_t i = 0; i < *n; i++)
				strmap_put(&rl.want_map, nv[i].dir, &nv[i]);
		}
		w = &nv[*n];
		memset(w, 0, sizeof(*w));
		w->wd = -1;
		if ((w->dir = strdup(dir)) == NULL)
			return;
		(*n)++;
		strmap_put(&rl.want_map, w->dir, w);
	}
	if (name == NULL) {
		w->all = 1;
		return;
	}
	for (size_t i = 0; i < w->nnames; i++)
		if (strcmp(w->names[i], name) == 0)
			return;
	if ((names = realloc(w->names, (w->nnames + 1) * sizeof(*names))) == NULL)
		return;
	w->names = names;
	if ((w->names[w->nnames] = strdup(name)) != NULL)
		w->nnames++;
}

/* the directory of path (for its name), and when path is a symlink the
 * real directory of the file it leads to (for everything: certbot's
 * archive/, a Kubernetes volume's ..data/). A path that is no symlink
 * itself needs no more: a watch through a symlinked directory watches the
 * directory it leads to. */
static void
watch_want_file(struct watch **v, size_t *n, const char *path)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	struct stat sb;

	if (path == NULL)
		return;
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	watch_want(v, n, dirname(dir), basename(base));
	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode) &&
	    realpath(path, real) != NULL)
		watch_want(v, n, dirname(real), NULL);
}

/* the watch set being filled (certset_watch_dirs' callback argument) */
struct want_set {
	struct watch **v;
	size_t *n;
};

static void
watch_want_dir(const char *dir, void *arg)
{
	struct want_set *ws = arg;

	watch_want(ws->v, ws->n, dir, NULL);
}

/* cert_dir and its directories that may hold pairs, as its layouts say
 * (certset.c): directories only, never the files of a pair */
static void
watch_want_cert_dir(struct watch **v, size_t *n, const char *dir)
{
	struct want_set ws = { v, n };

	certset_watch_dirs(dir, watch_want_dir, &ws);
}

/* dir's parent, for dir's own name: a directory removed and made again,
 * or replaced by a rename, is watched again (reappear[k]) */
static void
watch_want_parent(struct watch **v, size_t *n, const char *dir, int k)
{
	char pbuf[PATH_MAX], bbuf[PATH_MAX], key[PATH_MAX * 2 + 2];
	const char *parent, *base;

	free(rl.reappear[k]);
	rl.reappear[k] = NULL;
	if (dir == NULL || *dir == '\0')
		return;
	snprintf(pbuf, sizeof(pbuf), "%s", dir);
	snprintf(bbuf, sizeof(bbuf), "%s", dir);
	parent = dirname(pbuf);
	base = basename(bbuf);
	if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0)
		return;
	watch_want(v, n, parent, base);
	snprintf(key, sizeof(key), "%s/%s", parent, base);
	rl.reappear[k] = strdup(key);
}

/*
 * Make the inotify watches match what the current snapshot was loaded
 * from. Watching directories, not files, is what makes replacement by
 * rename, re-pointed symlinks (certbot) and the swapped ..data symlink of a
 * Kubernetes volume visible: each of them is an event in a directory.
 */
static void
watch_sync(void)
{
	const struct snapshot *s = snapshot_current();
	struct watch *v = NULL;
	size_t n = 0;
	char acme_dir[PATH_MAX];

	if (rl.ino_lf.fd == -1 || s == NULL)
		return;
	watch_want_file(&v, &n, rl.config_path);
	watch_want(&v, &n, s->cfg.policy_dir, NULL);
	watch_want_parent(&v, &n, s->cfg.policy_dir, 0);
	watch_want_parent(&v, &n, s->cfg.cert_dir, 1);
	if (s->cfg.cert_dir != NULL)
		watch_want_cert_dir(&v, &n, s->cfg.cert_dir);
	/* the ACME storage's certificates: one more cert_dir */
	if (snapshot_acme_dir(&s->cfg, acme_dir, sizeof(acme_dir)) != NULL)
		watch_want_cert_dir(&v, &n, acme_dir);
	for (int i = 0; i < 2; i++) {
		watch_want_file(&v, &n, s->cfg.default_certs[i].cert);
		watch_want_file(&v, &n, s->cfg.default_certs[i].key);
	}
	for (size_t i = 0; i < s->cfg.ndomains; i++) {
		const struct domain_conf *dc = &s->cfg.domains[i];

		watch_want_file(&v, &n, dc->policy);
		for (int k = 0; k < 2; k++) {
			watch_want_file(&v, &n, dc->certs[k].cert);
			watch_want_file(&v, &n, dc->certs[k].key);
		}
	}

	/* inotify_add_watch returns the same wd for a directory already
	 * watched, so adding is idempotent; then drop what is not wanted, and
	 * the watch of a directory that another one replaced under its name */
	for (size_t i = 0; i < n; i++) {
		v[i].wd = inotify_add_watch(rl.ino_lf.fd, v[i].dir,
		    WATCH_EVENTS | IN_ONLYDIR);
		if (v[i].wd == -1 && errno != ENOENT)
			log_warn("reload: cannot watch %s: %s; changes there are "
			    "seen on SIGHUP or by polling only", v[i].dir,
			    strerror(errno));
	}
	for (size_t i = 0; i < rl.watch_n; i++) {
		const struct watch *nw = strmap_get(&rl.want_map,
		    rl.watch_v[i].dir);

		if (rl.watch_v[i].wd >= 0 &&
		    (nw == NULL || nw->wd != rl.watch_v[i].wd))
			inotify_rm_watch(rl.ino_lf.fd, rl.watch_v[i].wd);
		watch_free(&rl.watch_v[i]);
	}
	free(rl.watch_v);
	strmap_free(&rl.want_map);
	rl.watch_v = v;
	rl.watch_n = n;
}

/* the watch of descriptor wd, or NULL (each directory is watched once) */
static struct watch *
watch_find(int wd)
{
	for (size_t i = 0; i < rl.watch_n; i++)
		if (rl.watch_v[i].wd == wd)
			return &rl.watch_v[i];
	return NULL;
}

/* remember which file an event in watch w was about, for the next build */
static void
changes_seen(const struct inotify_event *ev, const struct watch *w)
{
	if (rl.seen == NULL && (rl.seen = calloc(1, sizeof(*rl.seen))) == NULL)
		return;		/* then the build looks at everything */
	if (w == NULL || (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED |
	    IN_DELETE_SELF | IN_MOVE_SELF)))
		changes_note_all(rl.seen);
	else
		changes_note(rl.seen, w->dir, ev->len ? ev->name : NULL);
}

/* does an event in watch w (NULL: unknown) on name count as a change? */
static int
watch_event_counts(const struct watch *w, const char *name, uint32_t mask)
{
	if (mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
		return 1;
	if (w == NULL)
		return 0;
	if (w->all || name == NULL || strncmp(name, "..", 2) == 0)
		return 1;
	for (size_t k = 0; k < w->nnames; k++)
		if (strcmp(w->names[k], name) == 0)
			return 1;
	return 0;
}

/* forget the file followed as open for writing at index i */
static void
writing_del(size_t i)
{
	free(rl.writing_v[i].path);
	rl.writing_v[i] = rl.writing_v[--rl.nwriting];
}

/* forget every file followed as open for writing */
static void
writing_clear(void)
{
	while (rl.nwriting > 0)
		writing_del(rl.nwriting - 1);
	free(rl.writing_v);
	rl.writing_v = NULL;
	rl.capwriting = 0;
}

/* follow the file sb (at path) as open for writing since now */
static void
writing_add(const char *path, const struct stat *sb, double now)
{
	struct writing *e;

	for (size_t i = 0; i < rl.nwriting; i++)
		if (rl.writing_v[i].dev == sb->st_dev &&
		    rl.writing_v[i].ino == sb->st_ino)
			return;
	if (rl.nwriting == rl.capwriting) {
		size_t cap = rl.capwriting ? rl.capwriting * 2 : 8;
		struct writing *v = realloc(rl.writing_v, cap * sizeof(*v));

		if (v == NULL)
			return;	/* then a build may read it; nothing better */
		rl.writing_v = v;
		rl.capwriting = cap;
	}
	e = &rl.writing_v[rl.nwriting];
	memset(e, 0, sizeof(*e));
	if ((e->path = strdup(path)) == NULL)
		return;
	e->dev = sb->st_dev;
	e->ino = sb->st_ino;
	e->since = now;
	rl.nwriting++;
}

/*
 * Follow which files are open for writing: a modification, or the creation
 * of an empty regular file, starts it; closing after writing or deleting
 * ends it; a rename carries it to the new name (the writer may still hold
 * it). Returns 1 when the event only says a file is being written (nothing
 * to build yet), else 0.
 */
static int
writing_follow(const struct inotify_event *ev, const struct watch *w,
    double now)
{
	char path[PATH_MAX];
	struct stat sb;
	int ok;

	if (w == NULL || ev->len == 0 || (ev->mask & IN_ISDIR) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", w->dir, ev->name) >=
	    sizeof(path))
		return 0;
	ok = lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
	if (ev->mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_TO)) {
		for (size_t i = 0; i < rl.nwriting;) {
			struct writing *e = &rl.writing_v[i];
			int same = ok && e->dev == sb.st_dev && e->ino == sb.st_ino;
			char *np;

			if (same && (ev->mask & IN_MOVED_TO) &&
			    (np = strdup(path)) != NULL) {
				free(e->path);
				e->path = np;
				i++;
			} else if (same || strcmp(e->path, path) == 0)
				writing_del(i);
			else
				i++;
		}
		return 0;
	}
	/* a hard link made to a file is no file being written */
	if (!ok || !((ev->mask & IN_MODIFY) || ((ev->mask & IN_CREATE) &&
	    sb.st_size == 0 && sb.st_nlink == 1)))
		return 0;
	writing_add(path, &sb, now);
	return 1;
}

/* forget files no longer at the name last seen (moved out of sight or
 * deleted without an event we saw): nothing loads them under that name */
static void
writing_prune(void)
{
	struct stat sb;

	for (size_t i = 0; i < rl.nwriting;) {
		if (stat(rl.writing_v[i].path, &sb) == -1 ||
		    sb.st_dev != rl.writing_v[i].dev ||
		    sb.st_ino != rl.writing_v[i].ino)
			writing_del(i);
		else
			i++;
	}
}

/* say once of each file written for WRITING_LOG_MS that it still is;
 * returns when the next such line is due, or -1 */
static double
writing_report(double now)
{
	double next = -1;

	for (size_t i = 0; i < rl.nwriting; i++) {
		struct writing *e = &rl.writing_v[i];

		if (e->logged)
			continue;
		if (now >= e->since + WRITING_LOG_MS) {
			log_info("reload: %s is still being written: its previous "
			    "version stays until the writer closes it (publish "
			    "by writing a temporary file and renaming it into "
			    "place)", e->path);
			e->logged = 1;
		} else if (next < 0 || e->since + WRITING_LOG_MS < next)
			next = e->since + WRITING_LOG_MS;
	}
	return next;
}

/* when the changes seen so far are to be built (loop_now_ms() time) */
static double
change_due(void)
{
	return rl.change_last + SETTLE_MS;
}

/* inotify on or off, as the current configuration says */
static void
watch_setup(int on)
{
	if (!on) {
		if (rl.ino_lf.fd != -1) {
			loop_fd_close(rl.loop, &rl.ino_lf);	/* drops every watch */
			for (size_t i = 0; i < rl.watch_n; i++)
				watch_free(&rl.watch_v[i]);
			free(rl.watch_v);
			rl.watch_v = NULL;
			rl.watch_n = 0;
		}
		return;
	}
	if (rl.ino_lf.fd == -1) {
		if ((rl.ino_lf.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
			log_warn("reload: inotify unavailable (%s); reloading on "
			    "SIGHUP and polling only", strerror(errno));
			return;
		}
		loop_fd_add(rl.loop, &rl.ino_lf, EPOLLIN);
	}
	watch_sync();
}

/*
 * A build in progress. snapshot_build runs on a thread of its own, so a
 * reload that must parse many keys never stalls the event loop: requests
 * keep being answered from the current snapshot meanwhile. The thread only
 * reads prev (held by a reference for the duration) and files; everything
 * it shares with the loop is reference counted with atomics. When it is
 * done it writes to the done eventfd and the loop publishes the result.
 */
struct build_job {
	const char *why;
	unsigned long generation;
	struct snapshot *prev;		/* one reference, or NULL */
	struct changes *changes;	/* what file events saw, or NULL: anything */
	struct snapshot *result;
	struct diag d;
	int rc;
	double t0;
	pthread_t thread;
};


static void *
build_main(void *arg)
{
	struct build_job *j = arg;
	uint64_t one = 1;

	j->rc = snapshot_build(rl.config_path, j->generation, j->prev, j->changes,
	    &j->result,
	    &j->d);
	/* an eventfd write cannot fail short of a bug; nothing to do then */
	(void)!write(rl.done_lf.fd, &one, sizeof(one));
	return NULL;
}

/* keep what a poll saw for the next one; say once of each file that kept
 * changing across checks that it is still being written. partial: the
 * build stopped at the configuration, so the other files' stamps of the
 * last poll stay as they were. */
static void
polls_keep(struct changes *c, int partial)
{
	if (c == NULL || c->polls == NULL)
		return;
	for (size_t i = 0; partial && i < rl.polled.map.cap; i++) {
		struct changes_poll *e = rl.polled.map.slots[i].value;

		if (rl.polled.map.slots[i].key != NULL && e != NULL &&
		    strmap_get(&c->polls->map, e->path) == NULL &&
		    strmap_put(&c->polls->map, e->path, e) == 0)
			rl.polled.map.slots[i].value = NULL;	/* moved */
	}
	for (size_t i = 0; i < c->polls->map.cap; i++) {
		const struct changes_poll *e = c->polls->map.slots[i].value;

		if (c->polls->map.slots[i].key != NULL && e != NULL &&
		    e->unstable == 2)
			log_info("reload: %s is still being written (its size or "
			    "modification time changed between polls): its "
			    "previous version stays until they stay the same "
			    "across two polls", e->path);
	}
	changes_polls_free(&rl.polled);
	rl.polled = *c->polls;
	free(c->polls);
	c->polls = NULL;
}

static void watch_read(void);

/*
 * Did the build s (from prev) read a file that was opened for writing while
 * it ran (its event came after the build started, t0)? It may have read it
 * half written: then s is dropped, and the file's closing builds again.
 * Returns the path of such a file, or NULL.
 */
static const char *
build_read_writing(const struct snapshot *s, const struct snapshot *prev,
    double t0)
{
	watch_read();	/* the events that came during the build */
	for (size_t i = 0; i < rl.nwriting; i++) {
		const struct writing *e = &rl.writing_v[i];

		if (e->since < t0)
			continue;	/* the build knew it: held */
		if (s->cfg_stamp.dev == e->dev && s->cfg_stamp.ino == e->ino)
			return e->path;
		for (size_t k = 0; k < s->ndomains; k++) {
			const struct domain *dom = s->domains[k];

			if (dom->policy_stamp.dev == e->dev &&
			    dom->policy_stamp.ino == e->ino &&
			    (prev == NULL || snapshot_find(prev, dom->name) != dom))
				return e->path;
		}
		for (size_t k = 0; s->certs != NULL && k < s->certs->n; k++) {
			const struct certkey *ck = s->certs->v[k];

			if ((ck->cert_stamp.dev == e->dev &&
			    ck->cert_stamp.ino == e->ino) ||
			    (ck->key_stamp.dev == e->dev &&
			    ck->key_stamp.ino == e->ino))
				return e->path;
		}
	}
	return NULL;
}

/* the build is done: publish it, or keep what is served */
static void
build_finish(struct build_job *j)
{
	struct snapshot *s = j->result;
	int first = j->prev == NULL && snapshot_current() == NULL;
	double ms = loop_now_ms() - j->t0;
	const char *torn;

	polls_keep(j->changes, j->rc == 0 && j->result == j->prev);
	if (j->rc == 0 && !first && rl.ino_lf.fd != -1 &&
	    (torn = build_read_writing(s, j->prev, j->t0)) != NULL) {
		log_info("reload (%s): %s was opened for writing while it was "
		    "read; building again once it is closed", j->why, torn);
		snapshot_unref(s);
		rl.force_full = 1;	/* the events this build used are lost */
		j->rc = 1;
	}
	if (j->rc == 1) {
		/* dropped: nothing to report */
	} else if (j->rc == -1) {
		log_diagnostics(&j->d, 1);
		if (first) {
			log_err("%s: not started: %zu error(s)", rl.config_path,
			    j->d.nerrors);
			rl.ops.failed(rl.ops.arg);
		} else {
			/* the events this build consumed are lost with it: the
			 * next build must look at every file again */
			rl.force_full = 1;
			metrics_reload(0);
			log_err("reload (%s) failed: still serving generation %lu "
			    "unchanged", j->why, rl.generation);
		}
	} else if (!first && snapshot_same(s, j->prev) && j->d.nerrors == 0) {
		/* a reload's one line, as for any other; a poll that found
		 * nothing is no reload: only at debug, or polling every few
		 * seconds would fill the log */
		if (strcmp(j->why, "poll") == 0)
			log_debug("reload (%s): nothing changed", j->why);
		else
			log_info("reload (%s): nothing changed; still serving "
			    "generation %lu; %.1f ms", j->why, rl.generation,
			    ms);
		snapshot_unref(s);
	} else {
		log_diagnostics(&j->d, 1);
		/* against the last configuration, or the one read at start */
		if (rl.boot_cfg != NULL)
			config_diff(j->prev != NULL ? &j->prev->cfg : rl.boot_cfg,
			    &s->cfg, report_change, &s->cfg);
		if (first) {
			log_info("loaded %zu domain(s), %zu failed, %zu warning(s) "
			    "in %.1f ms", s->ndomains, s->nfailed, j->d.nwarnings, ms);
		} else {
			rl.generation = s->generation;
			metrics_reload(1);
			log_info("reload (%s): generation %lu: %zu added, %zu "
			    "changed, %zu removed, %zu failed (%zu kept at their "
			    "previous version); %zu domains served; %.1f ms%s", j->why,
			    rl.generation, s->nadded, s->nchanged, s->nremoved,
			    s->nfailed, s->nkept, s->ndomains, ms,
			    s->patched ? " (incremental)" : "");
		}
		log_configure(s->cfg.log_level, s->cfg.log_json,
		    s->cfg.error_log, s->cfg.access_log);
		rl.ops.publish(rl.ops.arg, s);	/* the loop swaps it in */
		/* re-walking 10,000 directories is the costly part of a
		 * reload's work on the loop: only when what is loaded moved */
		if (first || s->paths_changed ||
		    (rl.ino_lf.fd != -1) != s->cfg.auto_reload)
			watch_setup(s->cfg.auto_reload);
	}
	if (snapshot_current() != NULL) {
		unsigned poll = snapshot_current()->cfg.poll_interval;

		rl.next_poll = poll > 0 ? loop_now_ms() + poll * 1000.0 : 0;
	}
	snapshot_unref(j->prev);
	changes_free(j->changes);
	free(j->changes);
	diag_clear(&j->d);
	free(j);
}

/*
 * What the build for why is to go by: the file events seen, when they alone
 * caused it (SIGHUP and polling look at every file), and in every case the
 * files still open for writing, whose previous versions stay; a poll also
 * compares each file with the previous poll. NULL when memory runs out
 * (then the build looks at everything).
 */
static struct changes *
build_changes(const char *why)
{
	struct changes *c = NULL;

	if (why == change_reason && !rl.other_trigger && !rl.force_full)
		c = rl.seen;
	else {
		changes_free(rl.seen);
		free(rl.seen);
	}
	rl.seen = NULL;
	if (c == NULL && (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (c->nkeys == 0)
		c->full = 1;	/* no events to go by */
	writing_prune();
	if (rl.nwriting > 0 &&
	    (c->held = calloc(rl.nwriting, sizeof(*c->held))) != NULL) {
		for (size_t i = 0; i < rl.nwriting; i++) {
			c->held[i].dev = rl.writing_v[i].dev;
			c->held[i].ino = rl.writing_v[i].ino;
		}
		c->nheld = rl.nwriting;
	}
	/* a build that looks at every file notes what it saw, when polling
	 * may follow (at start-up it is not known yet); a poll also holds
	 * what changed since the last one */
	if (c->full && (snapshot_current() == NULL ||
	    snapshot_current()->cfg.poll_interval > 0) &&
	    (c->polls = calloc(1, sizeof(*c->polls))) != NULL &&
	    why == poll_reason)
		c->polled = &rl.polled;
	return c;
}

/* start a build of the next generation from the current snapshot */
static void
build_start(const char *why)
{
	struct snapshot *cur = snapshot_current();
	struct build_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_err("reload (%s): out of memory; will retry", why);
		rl.pending_why = why;
		return;
	}
	j->why = why;
	j->changes = build_changes(why);
	rl.other_trigger = rl.force_full = 0;
	j->generation = rl.generation + (cur != NULL ? 1 : 0);
	j->prev = cur != NULL ? snapshot_ref(cur) : NULL;
	j->t0 = loop_now_ms();
	if (rl.threaded && pthread_create(&j->thread, NULL, build_main, j) == 0) {
		rl.job = j;
		return;
	}
	build_main(j);		/* no threads: build on the loop */
	build_finish(j);
}

/* the build thread is done: publish its result, or keep what is served */
static void
reload_on_done(struct loop_fd *lf, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(lf->fd, &v, sizeof(v)) == sizeof(v) && rl.job != NULL) {
		struct build_job *j = rl.job;

		pthread_join(j->thread, NULL);
		rl.job = NULL;
		build_finish(j);
	}
}

/* file events: note what changed; the build follows when they settle */
static void
reload_on_inotify(struct loop_fd *lf, uint32_t events)
{
	(void)lf;
	(void)events;
	watch_read();
}

/* is the event in w about policy_dir or cert_dir itself (made, renamed,
 * deleted)? Then the watches must follow it */
static int
watch_reappears(const struct inotify_event *ev, const struct watch *w)
{
	char path[PATH_MAX * 2 + 2];

	if (w == NULL || ev->len == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", w->dir, ev->name);
	for (int k = 0; k < 2; k++)
		if (rl.reappear[k] != NULL && strcmp(rl.reappear[k], path) == 0)
			return 1;
	return 0;
}

/* one event: note what it may have changed and when to build */
static int
watch_event(const struct inotify_event *ev, double now)
{
	struct watch *w = watch_find(ev->wd);
	int resync = 0;

	if (w != NULL && (ev->mask & IN_IGNORED))
		w->wd = -1;	/* gone (deleted): the number may be reused */
	if (!watch_event_counts(w, ev->len ? ev->name : NULL, ev->mask))
		return 0;
	changes_seen(ev, w);
	if (watch_reappears(ev, w)) {
		/* a new directory: its contents are only known by a walk */
		changes_seen(&(struct inotify_event){ .mask = IN_Q_OVERFLOW }, w);
		resync = 1;
	}
	if (writing_follow(ev, w, now) && !resync)
		return 0;	/* built once closed */
	rl.change_why = change_reason;
	rl.change_last = now;
	return resync;
}

/* read every inotify event queued */
static void
watch_read(void)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	int resync = 0;

	if (rl.ino_lf.fd == -1)
		return;
	while ((n = read(rl.ino_lf.fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			resync |= watch_event(ev, loop_now_ms());
			p += sizeof(*ev) + ev->len;
		}
	}
	/* watched again at once: what is put in it from now on is seen, and
	 * the build that follows walks what was put there before */
	if (resync)
		watch_sync();
}

/* after every loop turn: start a build when one is due */
static void
reload_tick(void *arg, double now)
{
	const char *why = rl.pending_why;

	(void)arg;
	writing_report(now);
	if (rl.job != NULL || snapshot_current() == NULL)
		return;		/* one build at a time; changes wait for it */
	if (why == NULL && rl.change_why != NULL && now >= change_due())
		why = rl.change_why;
	if (why == NULL && rl.next_poll > 0 && now >= rl.next_poll) {
		why = poll_reason;
		rl.other_trigger = 1;
	}
	if (why == NULL)
		return;
	/* one build covers every trigger */
	rl.pending_why = rl.change_why = NULL;
	build_start(why);
}

/* before the loop waits: how long until reload_tick has work (-1: nothing
 * pending) */
static long
reload_timeout_ms(void *arg, double now)
{
	double due = writing_report(now);

	(void)arg;
	if (rl.job != NULL && due < 0)
		return -1;	/* the done eventfd wakes the loop */
	if (rl.pending_why != NULL && rl.job == NULL)
		return 0;
	if (rl.change_why != NULL && rl.job == NULL &&
	    (due < 0 || change_due() < due))
		due = change_due();
	if (rl.next_poll > 0 && rl.job == NULL && (due < 0 || rl.next_poll < due))
		due = rl.next_poll;
	if (due < 0)
		return -1;
	return due <= now ? 0 : (long)(due - now) + 1;
}

void
reload_start(struct loop *l, const struct reload_ops *o)
{
	rl.loop = l;
	rl.ops = *o;
	rl.ino_lf.cb = reload_on_inotify;
	rl.done_lf.cb = reload_on_done;
	rl.hook.before = reload_timeout_ms;
	rl.hook.after = reload_tick;
	loop_hook_add(rl.loop, &rl.hook);
#if defined(MBEDTLS_THREADING_C)
	rl.threaded = 1;
#else
	rl.threaded = 0;	/* mbedTLS's RNG would be shared without locks */
#endif
	if (rl.threaded &&
	    (rl.done_lf.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) != -1)
		loop_fd_add(rl.loop, &rl.done_lf, EPOLLIN);
	else
		rl.threaded = 0;
	build_start("startup");
}

void
reload_request(const char *why)
{
	rl.pending_why = why;
	rl.other_trigger = 1;
}

void
reload_stop(void)
{
	if (rl.job != NULL) {
		pthread_join(rl.job->thread, NULL);
		snapshot_unref(rl.job->result);
		snapshot_unref(rl.job->prev);
		changes_free(rl.job->changes);
		free(rl.job->changes);
		diag_clear(&rl.job->d);
		free(rl.job);
		rl.job = NULL;
	}
	watch_setup(0);
	writing_clear();
	changes_polls_free(&rl.polled);
	for (int k = 0; k < 2; k++) {
		free(rl.reappear[k]);
		rl.reappear[k] = NULL;
	}
	if (rl.done_lf.fd != -1)
		close(rl.done_lf.fd);
	rl.done_lf.fd = -1;
	free(rl.config_path);
	rl.config_path = NULL;
	rl.boot_cfg = NULL;
	rl.loop = NULL;
}
