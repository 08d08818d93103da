/* http.h - the libmicrohttpd daemon and the request handler */
#ifndef MTA_STSD_HTTP_H
#define MTA_STSD_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

struct MHD_Daemon;
struct MHD_Response;

#define HTTP_POLICY_PATH "/.well-known/mta-sts.txt"

/*
 * Header fields a request may have (after its request line). The server
 * checks them, with max_header_size, before libmicrohttpd sees a request:
 * its per-connection pool must hold the headers and one record per field,
 * so bounding both lets it be sized to never run out (see http_start).
 */
#define HTTP_MAX_FIELDS 100

/*
 * Start libmicrohttpd for decrypted connections: no listening socket of its
 * own (connections come from http_add), driven from the caller's event loop
 * through the epoll descriptor returned in *epoll_fd. Returns 0 or -1.
 */
int http_start(const struct config *cfg, int *epoll_fd);

/*
 * Hand one plaintext socket to libmicrohttpd, with the client's real
 * address. libmicrohttpd owns (and closes) the socket afterwards, also when
 * this fails. Returns 0 or -1.
 */
int http_add(int fd, const struct sockaddr *peer, socklen_t peerlen);

/* Apply the keys of a new configuration that libmicrohttpd's side reads
 * (max_requests_per_connection; idle_timeout, for connections accepted
 * from now on); called by the loop's thread, read by every worker. */
void http_configure(const struct config *cfg);

/* Let libmicrohttpd do all work that is ready; never blocks. */
void http_run(void);

/* Milliseconds until libmicrohttpd needs http_run again, or -1: no timer. */
long http_timeout_ms(void);

/* Stop libmicrohttpd, closing its connections. */
void http_stop(void);

/* A 200 response holding a copy of a policy, with the headers senders need;
 * NULL when memory runs out. Release with http_response_free. */
struct MHD_Response *http_policy_response(const char *text, size_t len);

/* Drop one reference to a response (NULL is fine). */
void http_response_free(struct MHD_Response *r);

#endif
