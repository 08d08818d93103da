/* test_health.c - the admin address forms and the probe's verdicts */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/health.h"

static void
test_parse_addr(void **state)
{
	static const struct {
		const char *in, *host, *port;
	} good[] = {
		{ "127.0.0.1:9100", "127.0.0.1", "9100" },
		{ "9100", "127.0.0.1", "9100" },
		{ "[::1]:9100", "::1", "9100" },
		{ "0.0.0.0:9100", "127.0.0.1", "9100" },
		{ "*:9100", "127.0.0.1", "9100" },
		{ "[::]:9100", "::1", "9100" },
		{ "localhost:1", "localhost", "1" },
		{ "10.1.2.3:65535", "10.1.2.3", "65535" },
	};
	static const char *const bad[] = {
		"", ":9100", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:91a0", "::1:9100", "[::1]9100", "[::1", "x:123456",
		"-1",
	};
	char host[64], port[8];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(health_parse_addr(good[i].in, host, sizeof(host),
		    port, sizeof(port)), 0);
		assert_string_equal(host, good[i].host);
		assert_string_equal(port, good[i].port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (health_parse_addr(bad[i], host, sizeof(host), port,
		    sizeof(port)) != -1)
			fail_msg("\"%s\" accepted as an address", bad[i]);
	}
	/* a host longer than the buffer is refused, not cut */
	assert_int_equal(health_parse_addr("averylonghostname:80", host, 8, port,
	    sizeof(port)), -1);
}

/*
 * A one-connection server on a loopback port: reads the request, then
 * writes answer (NULL: says nothing for 10 s). Fills addr; returns its pid.
 */
static pid_t
fake_admin(const char *answer, char *addr, size_t addrlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sin, &sl), 0);
	snprintf(addr, addrlen, "127.0.0.1:%u", ntohs(sin.sin_port));
	if ((pid = fork()) == 0) {
		char req[512];
		int c = accept(ls, NULL, NULL);
		ssize_t n = c >= 0 ? read(c, req, sizeof(req) - 1) : -1;

		if (n <= 0)
			_exit(1);
		req[n] = '\0';
		/* the path asked is part of the request line */
		if (answer == NULL)
			sleep(10);
		else if (write(c, answer, strlen(answer)) < 0)
			_exit(1);
		_exit(strncmp(req, "GET /", 5) == 0 ? 0 : 1);
	}
	close(ls);
	return pid;
}

static int
probe(const char *answer, const char *path, int timeout, char *err,
    size_t errlen)
{
	char addr[64];
	pid_t pid = fake_admin(answer, addr, sizeof(addr));
	int rc = health_probe(addr, path, timeout, err, errlen), st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return rc;
}

static void
test_probe_verdicts(void **state)
{
	char err[512], addr[64];
	time_t t0;

	(void)state;
	assert_int_equal(probe("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
	    "/healthz", 3, err, sizeof(err)), 0);
	assert_int_equal(probe("HTTP/1.1 503 Service Unavailable\r\n\r\n",
	    "/readyz", 3, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "503 Service Unavailable"));
	assert_int_equal(probe("HTTP/1.1 2000 OK\r\n\r\n", "/healthz", 3, err,
	    sizeof(err)), 1);
	/* what the listener sent reaches the terminal escaped, never as it is */
	assert_int_equal(probe("HTTP/1.1 503 \033[2J\xff\r\n\r\n", "/healthz",
	    3, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "\"HTTP/1.1 503 \\x1b[2J\\xff\""));
	assert_null(strchr(err, '\033'));
	assert_int_equal(probe("", "/healthz", 3, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "answered nothing"));
	/* a listener that never answers: given up after the timeout */
	t0 = time(NULL);
	assert_int_equal(probe(NULL, "/healthz", 1, err, sizeof(err)), 1);
	assert_true(time(NULL) - t0 <= 3);
	assert_non_null(strstr(err, "timed out"));
	/* nothing listening: refused */
	{
		pid_t pid = fake_admin("", addr, sizeof(addr));
		int st;

		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	assert_int_equal(health_probe(addr, "/healthz", 3, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "refused"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_probe_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
