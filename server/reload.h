/* reload.h - what triggers a reload, and the build-aside-then-swap step */
#ifndef MTA_STSD_RELOAD_H
#define MTA_STSD_RELOAD_H

#include "config.h"

/* Remember the configuration path the running server was started with. */
void reload_init(const char *config_path);

/* Start watching for changes (registers its descriptors with epfd). */
void reload_start(const struct config *cfg, int epfd);

/* Ask for a reload soon (why names the trigger in the log). */
void reload_request(const char *why);

/* Handle an event on fd if it is one of ours; returns 1 if it was. */
int reload_handle_fd(int fd);

/* Called every loop turn: performs a requested reload when it is due. */
void reload_tick(double now_ms);

#endif
