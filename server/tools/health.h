/* health.h - `mta-stsd health`: ask the admin listener whether the server is up */
#ifndef MTA_STSD_HEALTH_H
#define MTA_STSD_HEALTH_H

#include <stddef.h>

/* the admin listener the probe asks when no address is given: the port the
 * container image's configuration opens (docs/examples/container.conf) */
#define HEALTH_DEFAULT_ADDR "127.0.0.1:9100"

/*
 * Split an admin address into host and port: "host:port", "[v6]:port" or a
 * bare "port" (host 127.0.0.1). A wildcard host ("*", "0.0.0.0", "::"), as
 * admin_listen may name, becomes the loopback address of its family.
 * Returns 0, or -1 when text is none of these forms or does not fit. Pure.
 */
int health_parse_addr(const char *text, char *host, size_t hostlen,
    char *port, size_t portlen);

/*
 * GET path from the plain-HTTP admin listener at addr (as above) over one
 * TCP connection, waiting at most timeout seconds in all for connecting,
 * sending and the status line. Returns 0 when the answer is 200, else 1
 * with the reason (refused, timed out, the status line) in err.
 */
int health_probe(const char *addr, const char *path, int timeout,
    char *err, size_t errlen);

/*
 * The `health` subcommand: argv[0] is "health". Exit status 0 healthy,
 * 1 not (the reason on stderr), 2 usage error.
 */
int health_main(int argc, char **argv);

#endif
