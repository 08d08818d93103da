/* reload.h - what triggers a reload, and the build-aside-then-swap step */
#ifndef MTA_STSD_RELOAD_H
#define MTA_STSD_RELOAD_H

#include <time.h>

#include "config.h"

/* Counters for operators (logs now, metrics later). */
struct reload_stats {
	unsigned long generation;	/* of the snapshot being served */
	unsigned long ok, failed;	/* reloads published / refused */
	unsigned long domain_failures;	/* domains that failed, summed */
	time_t last_ok, last_failed;	/* wall-clock times, 0: never */
};

/* Remember the configuration file, and cfg (kept, not copied: it must
 * outlive the server) as what restart-only keys stay at until a restart. */
void reload_init(const char *config_path, const struct config *cfg);

/*
 * Start the first load in the background (the loop keeps answering the
 * admin listener meanwhile) and, once a snapshot is current, watch what it
 * was loaded from: inotify on every directory holding the configuration,
 * policies, certificates and keys (and cert_dir's subdirectories),
 * registered with epfd. Without inotify, or with auto_reload off, only
 * SIGHUP and polling (poll_interval) reload.
 */
void reload_start(int epfd);

/* Did the first load (started by reload_start) fail? Then the server exits. */
int reload_startup_failed(void);

/* Ask for a reload at the next loop turn (why names the trigger in the log). */
void reload_request(const char *why);

/* Handle an event on fd if it is one of ours; returns 1 if it was. */
int reload_handle_fd(int fd);

/* Called every loop turn: performs a reload when one is due. */
void reload_tick(double now_ms);

/* Milliseconds until reload_tick has work, or -1 when nothing is pending. */
long reload_timeout_ms(double now_ms);

/* The counters so far. */
const struct reload_stats *reload_stats(void);

/* Stop watching; free what reload_init and reload_start allocated. */
void reload_stop(void);

#endif
