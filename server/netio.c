/* netio.c - a non-blocking TCP socket worked against a deadline, under mbedTLS's BIO */
#include "netio.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>

void
netio_deadline_in(struct netio *n, double seconds)
{
	clock_gettime(CLOCK_MONOTONIC, &n->deadline);
	n->deadline.tv_sec += (time_t)seconds;
	n->deadline.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (n->deadline.tv_nsec >= 1000000000L) {
		n->deadline.tv_sec++;
		n->deadline.tv_nsec -= 1000000000L;
	}
	n->timed_out = 0;
}

long
netio_ms_left(const struct netio *n)
{
	struct timespec now;
	double left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left = (double)(n->deadline.tv_sec - now.tv_sec) +
	    (double)(n->deadline.tv_nsec - now.tv_nsec) / 1e9;
	return left > 0 ? (long)(left * 1000) + 1 : 0;
}

int
netio_wait(struct netio *n, short events)
{
	for (;;) {
		struct pollfd pfd = { .fd = n->fd, .events = events };
		long ms = netio_ms_left(n);
		int r;

		if (ms == 0) {
			n->timed_out = 1;
			return 0;
		}
		r = poll(&pfd, 1, ms > 1000000 ? 1000000 : (int)ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0)
			continue;	/* the loop sees the deadline */
		return r > 0 ? 1 : -1;
	}
}

int
netio_socket(struct netio *n, int family)
{
	int one = 1;

	n->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd == -1)
		return -1;
	setsockopt(n->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

int
netio_connect(struct netio *n, const struct sockaddr *sa, socklen_t salen)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (connect(n->fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		soerr = errno;
	else if (netio_wait(n, POLLOUT) != 1)
		soerr = n->timed_out ? ETIMEDOUT : errno;
	else if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		soerr = errno;
	if (soerr == 0)
		return 0;
	close(n->fd);
	n->fd = -1;
	errno = soerr;
	return -1;
}

int
netio_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct netio *n = ctx;

	for (;;) {
		ssize_t r = send(n->fd, buf, len, MSG_NOSIGNAL);

		if (r >= 0)
			return (int)r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return MBEDTLS_ERR_NET_SEND_FAILED;
		if (netio_wait(n, POLLOUT) != 1)
			return MBEDTLS_ERR_NET_SEND_FAILED;
	}
}

int
netio_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct netio *n = ctx;

	for (;;) {
		ssize_t r = recv(n->fd, buf, len, 0);

		if (r >= 0)
			return (int)r;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return MBEDTLS_ERR_NET_CONN_RESET;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return MBEDTLS_ERR_NET_RECV_FAILED;
		if (netio_wait(n, POLLIN) != 1)
			return MBEDTLS_ERR_NET_RECV_FAILED;
	}
}

int
netio_tls_read(mbedtls_ssl_context *ssl, unsigned char *buf, size_t len)
{
	for (;;) {
		int ret = mbedtls_ssl_read(ssl, buf, len);

		if (ret == MBEDTLS_ERR_SSL_WANT_READ ||
		    ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
		    ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
		if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
		    ret == MBEDTLS_ERR_SSL_CONN_EOF ||
		    ret == MBEDTLS_ERR_NET_CONN_RESET)
			return 0;
		return ret;
	}
}
