/* netio.h - a non-blocking TCP socket worked against a deadline, under mbedTLS's BIO */
#ifndef MTA_STSD_NETIO_H
#define MTA_STSD_NETIO_H

#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include <mbedtls/ssl.h>

/*
 * One client connection of the HTTPS clients (probe.c for `check`, httpc.c
 * for ACME): every wait on the socket ends at the deadline, and timed_out
 * says a step failed for that reason rather than for the peer's.
 */
struct netio {
	int fd;				/* -1 when there is no socket */
	struct timespec deadline;	/* CLOCK_MONOTONIC */
	int timed_out;
};

/* Sets n's deadline seconds from now and clears timed_out. */
void netio_deadline_in(struct netio *n, double seconds);

/* Milliseconds left before n's deadline, rounded up; 0 when it passed. */
long netio_ms_left(const struct netio *n);

/* Waits until n->fd is ready for events (POLLIN, POLLOUT) or the deadline
 * passes: 1 ready, 0 timed out (timed_out set), -1 poll failed (errno). */
int netio_wait(struct netio *n, short events);

/* Makes n->fd a non-blocking TCP socket of family (TCP_NODELAY): 0, or -1
 * with errno. */
int netio_socket(struct netio *n, int family);

/* Connects n->fd to sa within n's deadline: 0, or -1 with errno set
 * (ETIMEDOUT, and timed_out, when the deadline passed) and n->fd closed. */
int netio_connect(struct netio *n, const struct sockaddr *sa, socklen_t salen);

/* mbedTLS's send callback on ctx, a struct netio: what send() took, or
 * MBEDTLS_ERR_NET_SEND_FAILED (also when the deadline passed). */
int netio_bio_send(void *ctx, const unsigned char *buf, size_t len);

/* mbedTLS's receive callback on ctx, a struct netio: the bytes read (0 at
 * the peer's close), MBEDTLS_ERR_NET_CONN_RESET, or
 * MBEDTLS_ERR_NET_RECV_FAILED (also when the deadline passed). */
int netio_bio_recv(void *ctx, unsigned char *buf, size_t len);

/* One mbedtls_ssl_read on ssl (whose BIO is a struct netio), retried while
 * mbedTLS wants to read or write or took a session ticket: the bytes read
 * (> 0), 0 when the peer ended the stream (close_notify, EOF, reset), or a
 * negative mbedTLS error (MBEDTLS_ERR_NET_RECV_FAILED also at the deadline). */
int netio_tls_read(mbedtls_ssl_context *ssl, unsigned char *buf, size_t len);

#endif
