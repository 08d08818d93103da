/* check.h - `mta-stsd check`: what a sending MTA sees, finding by finding */
#ifndef MTA_STSD_CHECK_H
#define MTA_STSD_CHECK_H

#define CHECK_SLOW_SECONDS 2.0		/* the strictest sender's fetch timeout */
#define CHECK_DEFAULT_TIMEOUT 10	/* seconds for one HTTPS fetch */
#define CHECK_MAX_AGE_LONG 31536000UL	/* a year */
#define CHECK_MAX_ADDRS 4		/* addresses fetched from, per family */

/*
 * `mta-stsd check [-c FILE] [--json] [--ca-file FILE] [--timeout SEC]
 * [domain...]`: argv[0] is "check". Prints one line per finding, "<domain>
 * <severity> <what is wrong> -- <how to fix>", or one JSON document. Returns
 * 0 when clean (info findings allowed), 1 with warnings only, 2 with any
 * error (a configuration that does not load, a usage error included).
 */
int check_main(int argc, char **argv);

#endif
