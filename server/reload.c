/* reload.c - what triggers a reload, and the build-aside-then-swap step */
#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "snapshot.h"

static const char *config_path;
static const char *pending_why;
static unsigned long generation = 1;

void
reload_init(const char *path)
{
	config_path = path;
}

void
reload_start(const struct config *cfg, int epfd)
{
	(void)cfg;
	(void)epfd;
}

void
reload_request(const char *why)
{
	pending_why = why;
}

int
reload_handle_fd(int fd)
{
	(void)fd;
	return 0;
}

/*
 * Build the new snapshot entirely to the side, with every check -t runs; a
 * configuration that does not load leaves the current snapshot serving.
 */
static void
reload_now(const char *why)
{
	struct snapshot *s, *old = snapshot_current();
	struct diag d = { 0 };
	double t0 = server_now_ms();

	if (snapshot_build(config_path, generation + 1, &s, &d) == -1) {
		for (size_t i = 0; i < d.n; i++)
			log_err("reload: %s", d.v[i].text);
		log_err("reload (%s) failed: still serving generation %lu "
		    "unchanged", why, old != NULL ? old->generation : 0);
		diag_clear(&d);
		return;
	}
	for (size_t i = 0; i < d.n; i++) {
		if (d.v[i].severity == DIAG_ERROR)
			log_err("reload: %s", d.v[i].text);
		else
			log_warn("reload: %s", d.v[i].text);
	}
	generation++;
	log_info("reload (%s): generation %lu, %zu domains served, %zu failed, "
	    "%.1f ms", why, generation, s->ndomains, s->nfailed,
	    server_now_ms() - t0);
	snapshot_publish(s);
	diag_clear(&d);
}

void
reload_tick(double now_ms)
{
	const char *why = pending_why;

	(void)now_ms;
	if (why == NULL)
		return;
	pending_why = NULL;
	reload_now(why);
}
