/* health.c - `mta-stsd health`: ask the admin listener whether the server is up */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpresp.h"
#include "log.h"

int
health_parse_addr(const char *text, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *h, *p, *colon;
	size_t hl;

	if (text == NULL || *text == '\0')
		return -1;
	if (text[0] == '[') {			/* [v6]:port */
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = text + 1;
		hl = (size_t)(close - h);
		p = close + 2;
	} else if ((colon = strrchr(text, ':')) != NULL) {
		if (strchr(text, ':') != colon)
			return -1;		/* a bare v6 address: needs [] */
		h = text;
		hl = (size_t)(colon - text);
		p = colon + 1;
	} else {				/* port alone */
		h = "127.0.0.1";
		hl = strlen(h);
		p = text;
	}
	if (hl == 0 || *p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 5 || atoi(p) < 1 || atoi(p) > 65535)
		return -1;
	/* the wildcard admin_listen binds: ask over loopback */
	if ((hl == 1 && h[0] == '*') || (hl == 7 && strncmp(h, "0.0.0.0", 7) == 0)) {
		h = "127.0.0.1";
		hl = strlen(h);
	} else if (hl == 2 && strncmp(h, "::", 2) == 0) {
		h = "::1";
		hl = strlen(h);
	}
	if (hl >= hostlen || strlen(p) >= portlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, p);
	return 0;
}

/* milliseconds left until deadline (CLOCK_MONOTONIC), at least 0 */
static int
health_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

/* wait until fd is ready for events or the deadline passes; 0 or -1 */
static int
health_wait(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, health_left(deadline));
	while (n == -1 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

/* connect to host:port before the deadline; the socket or -1 (err set) */
static int
health_connect(const char *host, const char *port,
    const struct timespec *deadline, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if ((connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS &&
		    health_wait(fd, POLLOUT, deadline) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
		    (errno = soerr) == 0)))
			break;
		snprintf(err, errlen, "connect to %s port %s: %s", host, port,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
health_probe(const char *addr, const char *path, int timeout, char *err,
    size_t errlen)
{
	char host[256], port[8], req[512], resp[256], esc[sizeof(resp) * 4];
	struct timespec deadline;
	size_t sent = 0, got = 0, len;
	int fd;
	char *eol;

	if (health_parse_addr(addr, host, sizeof(host), port, sizeof(port)) == -1) {
		snprintf(err, errlen, "\"%s\" is not an address: give host:port, "
		    "[v6]:port or a port", addr);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	snprintf(err, errlen, "connect to %s port %s: failed", host, port);
	if ((fd = health_connect(host, port, &deadline, err, errlen)) == -1)
		return 1;
	len = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: "
	    "%s\r\nConnection: close\r\n\r\n", path, host);
	while (sent < len) {
		ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			goto fail;
		else if (n == -1 && errno == EAGAIN &&
		    health_wait(fd, POLLOUT, &deadline) == -1)
			goto fail;
	}
	/* the status line is all we need */
	while (got < sizeof(resp) - 1 && memchr(resp, '\n', got) == NULL) {
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		else if (errno != EAGAIN && errno != EINTR)
			goto fail;
		else if (errno == EAGAIN && health_wait(fd, POLLIN, &deadline) == -1)
			goto fail;
	}
	close(fd);
	resp[got] = '\0';
	if ((eol = strpbrk(resp, "\r\n")) != NULL)
		*eol = '\0';
	if (httpresp_status_code(resp, strlen(resp)) == 200)
		return 0;
	/* what the listener sent may hold anything: escaped for the terminal */
	snprintf(err, errlen, "%s port %s answered %s%s%s", host, port,
	    got ? "\"" : "nothing", got ? log_escape(esc, sizeof(esc), resp,
	    strlen(resp), "\"") : "", got ? "\"" : "");
	return 1;
fail:
	snprintf(err, errlen, "%s port %s: %s", host, port, strerror(errno));
	close(fd);
	return 1;
}

static void
health_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mta-stsd health [--ready] [--timeout sec] [addr]\n"
	    "\n"
	    "Ask the admin listener (admin_listen) over plain HTTP: exit 0 when\n"
	    "it answers 200, 1 when not (the reason on stderr), 2 on a usage error.\n"
	    "\n"
	    "  addr           host:port, [v6]:port or port (default "
	    HEALTH_DEFAULT_ADDR ");\n"
	    "                 a wildcard host is asked over loopback\n"
	    "  --ready        ask /readyz (policies loaded, TLS listeners\n"
	    "                 accepting) instead of /healthz (event loop turns)\n"
	    "  --timeout sec  give up after sec seconds (default 3)\n");
}

int
health_main(int argc, char **argv)
{
	const char *addr = HEALTH_DEFAULT_ADDR, *path = "/healthz";
	int timeout = 3, naddr = 0;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ready") == 0)
			path = "/readyz";
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			char *end;
			long t = strtol(argv[++i], &end, 10);

			if (*end != '\0' || t < 1 || t > 3600) {
				fprintf(stderr, "mta-stsd health: --timeout \"%s\" is "
				    "not a number of seconds from 1 to 3600\n",
				    argv[i]);
				return 2;
			}
			timeout = (int)t;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			health_usage(stdout);
			return 0;
		} else if (argv[i][0] != '-' && naddr++ == 0)
			addr = argv[i];
		else {
			fprintf(stderr, "mta-stsd health: unexpected argument "
			    "\"%s\"\n", argv[i]);
			health_usage(stderr);
			return 2;
		}
	}
	if (health_probe(addr, path, timeout, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "mta-stsd health: %s %s: %s\n", addr, path, err);
	return 1;
}
