/* reload.h - what triggers a reload, and the build-aside-then-swap step */
#ifndef MTA_STSD_RELOAD_H
#define MTA_STSD_RELOAD_H

#include "config.h"

struct loop;
struct snapshot;

/*
 * What the loop that runs reloads registers with them: reload builds a
 * snapshot to the side and hands it over; the loop swaps it in.
 */
struct reload_ops {
	/* s is finished and differs from what is served: apply s->cfg's
	 * limits and make s current everywhere (one reference passes on) */
	void (*publish)(void *arg, struct snapshot *s);
	/* the first load failed (logged): nothing can be served */
	void (*failed)(void *arg);
	void *arg;
};

/* Remember the configuration file, and cfg (kept, not copied: it must
 * outlive the server) as what restart-only keys stay at until a restart. */
void reload_init(const char *config_path, const struct config *cfg);

/*
 * Start the first load in the background (the loop keeps answering the
 * admin listener meanwhile) and, once a snapshot is current, watch what it
 * was loaded from: inotify on every directory holding the configuration,
 * policies, certificates and keys (and cert_dir's subdirectories). The
 * build's completion, the inotify descriptor and the debounce and poll
 * timers register with loop; finished snapshots go to ops (copied). Without
 * inotify, or with auto_reload off, only SIGHUP and polling (poll_interval)
 * reload.
 */
void reload_start(struct loop *loop, const struct reload_ops *ops);

/* Ask for a reload at the next loop turn (why names the trigger in the log). */
void reload_request(const char *why);

/* Stop watching; free what reload_init and reload_start allocated. */
void reload_stop(void);

#endif
