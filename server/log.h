/* log.h - leveled error log and the access log, as text or JSON lines */
#ifndef MTA_STSD_LOG_H
#define MTA_STSD_LOG_H

#include <stddef.h>

#include "diag.h"
#include "loglevel.h"

/* Set the lowest level written to the error log. */
void log_set_level(enum log_level level);

/* Is a message of this level written? (to skip formatting work when not) */
int log_enabled(enum log_level level);

/* Write both logs as JSON lines (1) or as human text (0, the default). */
void log_set_json(int json);

/*
 * Direct the error log: NULL or "stderr", "syslog", or an absolute file path
 * (appended to). Returns 0, or -1 with errno set when the file cannot be
 * opened (the previous destination is then kept).
 */
int log_error_open(const char *dest);

/*
 * Direct the access log: "stderr", "off", or an absolute file path
 * (appended to). Returns 0, or -1 with errno set when the file cannot be
 * opened (the previous destination is then kept).
 */
int log_access_open(const char *dest);

/* Apply a reload's log_level, log_format (json 1), error_log and
 * access_log. A log file that cannot be opened keeps its previous
 * destination (logged). */
void log_configure(enum log_level level, int json, const char *error_log,
    const char *access_log);

/*
 * Reopen the log files (SIGUSR1, after logrotate moved them); "log files
 * reopened" only when they were. A file that cannot be reopened keeps being
 * written; why (for "Permission denied": the ownership it needs) is said
 * once, not at every SIGUSR1.
 */
void log_reopen(void);

/* After the privilege drop: say once about each log file the user we now
 * are could not reopen on SIGUSR1, and what ownership it needs. */
void log_check_reopen(void);

/*
 * s[0..len) for one line of text, into out (outsz > 0 bytes, always
 * terminated; cut there, never inside an escape): every control byte, DEL
 * and non-ASCII byte becomes \xNN, a backslash \\, and so does (as \xNN) any
 * character of also (the access log's field delimiters, a quote). What a
 * line quotes (a file name, a Host header, a header a server sent to
 * `check`) can then neither end the line, forge the next one nor colour a
 * terminal. The one escaping of both text logs, of syslog, of -t's and the
 * tools' output. Returns out.
 */
const char *log_escape(char *out, size_t outsz, const char *s, size_t len,
    const char *also);

/* Write one line to the error log, with time and level. Never logs secrets:
 * callers pass names, addresses and file paths, never key material. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Print every message of d, in order: to the error log when to_log (errors
 * with log_err, warnings with log_warn), else on stderr as log_tool_line
 * does ("mta-stsd: error: <text>", "mta-stsd: warning: <text>"). The one
 * way collected diagnostics are printed, by the daemon and the tools alike.
 */
void log_diagnostics(const struct diag *d, int to_log);

/* Write one access-log line (a no-op when the access log is off). */
void log_access(const char *client, const char *sni, const char *host,
    const char *method, const char *path, unsigned status, size_t bytes,
    double duration_ms);

#endif
