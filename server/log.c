/* log.c - leveled error log and the access log, as text or JSON lines */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

/* one log destination: stderr, a file (reopened on SIGUSR1), syslog or off */
struct sink {
	FILE *fp;			/* NULL: stderr */
	char *path;			/* when a file */
	int off;
	int syslog;
	int told;			/* errno of a reopen problem already
					 * explained (0: none) */
};

static enum log_level log_level = LOG_LEVEL_INFO;
static int log_json;
static struct sink err_sink, access_sink;
static const char *const sink_keys[] = { "error_log", "access_log" };

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* "2026-11-28T10:00:00.123Z" */
static void
log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

static FILE *
sink_fp(const struct sink *s)
{
	return s->fp != NULL ? s->fp : stderr;
}

/* point a sink at dest; keeps the old one when a file cannot be opened */
static int
sink_open(struct sink *s, const char *dest, int allow_off, int allow_syslog)
{
	struct sink n = { 0 };

	/* the file already open (a reload that did not change it): keep it;
	 * after the privilege drop it may not be ours to open again */
	if (dest != NULL && s->path != NULL && strcmp(dest, s->path) == 0)
		return 0;
	if (dest == NULL || strcmp(dest, "stderr") == 0)
		;
	else if (allow_off && strcmp(dest, "off") == 0)
		n.off = 1;
	else if (allow_syslog && strcmp(dest, "syslog") == 0) {
		openlog("mta-stsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		n.syslog = 1;
	} else {
		if ((n.fp = fopen(dest, "ae")) == NULL)
			return -1;
		setvbuf(n.fp, NULL, _IOLBF, 0);
		if ((n.path = strdup(dest)) == NULL) {
			fclose(n.fp);
			errno = ENOMEM;
			return -1;
		}
	}
	if (s->fp != NULL)
		fclose(s->fp);
	free(s->path);
	*s = n;
	return 0;
}

const char *
log_escape(char *out, size_t outsz, const char *s, size_t len,
    const char *also)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == '\\') {
			if (i + 3 > outsz)
				break;
			out[i++] = '\\';
			out[i++] = '\\';
		} else if (c < 0x20 || c >= 0x7f || strchr(also, c) != NULL) {
			if (i + 5 > outsz)
				break;
			out[i++] = '\\';
			out[i++] = 'x';
			out[i++] = hex[c >> 4];
			out[i++] = hex[c & 15];
		} else {
			if (i + 2 > outsz)
				break;
			out[i++] = (char)c;
		}
	}
	out[i] = '\0';
	return out;
}

static void
log_write(enum log_level level, const char *fmt, va_list ap)
{
	char ts[64], msg[2048], esc[sizeof(msg) * 6];

	if (level > log_level || err_sink.off)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_json && !err_sink.syslog) {
		json_escape(esc, sizeof(esc), msg, strlen(msg));
		log_timestamp(ts, sizeof(ts));
		fprintf(sink_fp(&err_sink), "{\"ts\":\"%s\",\"level\":\"%s\","
		    "\"msg\":\"%s\"}\n", ts, level_names[level], esc);
		return;
	}
	log_escape(esc, sizeof(esc), msg, strlen(msg), "");
	if (err_sink.syslog) {
		syslog(syslog_prio[level], "%s", esc);
		return;
	}
	log_timestamp(ts, sizeof(ts));
	fprintf(sink_fp(&err_sink), "%s mta-stsd %s: %s\n", ts,
	    level_names[level], esc);
}

/* one line of a report on stderr (-t, dns, check): "mta-stsd: <what>:
 * <text>", escaped as the text logs are */
static void
log_tool_line(const char *what, const char *text)
{
	char esc[8192];

	fprintf(stderr, "mta-stsd: %s: %s\n", what,
	    log_escape(esc, sizeof(esc), text, strlen(text), ""));
}

void
log_diagnostics(const struct diag *d, int to_log)
{
	for (size_t i = 0; i < d->n; i++) {
		int err = d->v[i].severity == DIAG_ERROR;

		if (!to_log)
			log_tool_line(err ? "error" : "warning", d->v[i].text);
		else if (err)
			log_err("%s", d->v[i].text);
		else
			log_warn("%s", d->v[i].text);
	}
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

void
log_set_json(int json)
{
	log_json = json;
}

int
log_error_open(const char *dest)
{
	return sink_open(&err_sink, dest, 0, 1);
}

int
log_access_open(const char *dest)
{
	return sink_open(&access_sink, dest, 1, 0);
}

/* A reload's log keys: level and format at once; a destination that
 * cannot be opened keeps the previous one, and that is said. */
void
log_configure(enum log_level level, int json, const char *error_log,
    const char *access_log)
{
	log_set_level(level);
	log_set_json(json);
	if (log_error_open(error_log) == -1)
		log_err("reload: error_log %s: %s; keeping the previous one",
		    error_log, strerror(errno));
	if (log_access_open(access_log) == -1)
		log_err("reload: access_log %s: %s; keeping the previous one",
		    access_log, strerror(errno));
}

/* the name of a user, or its number, copied into buf */
static const char *
user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)uid);
	return buf;
}

/*
 * Say what keeps a log file from being reopened and what would fix it: an
 * error when a reopen failed, a warning when the start-up check foresees
 * it. For "Permission denied" that is the ownership: the daemon reopens its
 * logs (SIGUSR1) as the user it dropped to, so the file, or its directory
 * when the rotation leaves no file behind, must be that user's.
 */
static void
sink_explain(struct sink *s, const char *key, int err, int failed)
{
	char ubuf[64], obuf[64], msg[2048];
	const char *user = user_name(geteuid(), ubuf, sizeof(ubuf));
	struct stat st;

	s->told = err;
	if (err != EACCES && err != EPERM)
		snprintf(msg, sizeof(msg), "%s %s: cannot reopen it: %s; still "
		    "writing to the old file", key, s->path, strerror(err));
	else if (stat(s->path, &st) == -1)
		snprintf(msg, sizeof(msg), "%s %s: cannot reopen it: %s: user "
		    "%s may not create files in its directory; still writing to "
		    "the old file. Have the log rotation create the new file "
		    "owned by %s (logrotate: create 0640 %s <group>), or make "
		    "the directory writable by %s", key, s->path,
		    strerror(err), user, user, user, user);
	else
		snprintf(msg, sizeof(msg), "%s %s: user %s cannot write it "
		    "(%s; owned by %s, mode %04o), so SIGUSR1 cannot reopen it "
		    "after log rotation%s. Make it owned by %s (chown %s %s) and "
		    "have the rotation create new ones owned by %s (logrotate: "
		    "create 0640 %s <group>)", key, s->path, user,
		    strerror(err), user_name(st.st_uid, obuf, sizeof(obuf)),
		    (unsigned)(st.st_mode & 07777), failed ? "; still writing "
		    "to the old file" : "", user, user, s->path, user, user);
	if (failed)
		log_err("%s", msg);
	else
		log_warn("%s", msg);
}

/* Say once, now, about each log file the current user could not reopen. */
void
log_check_reopen(void)
{
	struct sink *sinks[] = { &err_sink, &access_sink };

	for (size_t i = 0; i < 2; i++) {
		struct sink *s = sinks[i];

		if (s->path == NULL || s->told != 0)
			continue;
		if (faccessat(AT_FDCWD, s->path, W_OK, AT_EACCESS) == -1 &&
		    (errno == EACCES || errno == EPERM))
			sink_explain(s, sink_keys[i], errno, 0);
	}
}

void
log_reopen(void)
{
	struct sink *sinks[] = { &err_sink, &access_sink };
	size_t files = 0, reopened = 0;
	const char *done[2];

	for (size_t i = 0; i < 2; i++) {
		struct sink *s = sinks[i];
		FILE *fp;

		if (s->path == NULL)
			continue;
		files++;
		if ((fp = fopen(s->path, "ae")) == NULL) {
			/* explained once; a rotation a day must not repeat it */
			if (errno == s->told)
				log_debug("%s %s: still cannot reopen it: %s",
				    sink_keys[i], s->path, strerror(errno));
			else
				sink_explain(s, sink_keys[i], errno, 1);
			continue;
		}
		setvbuf(fp, NULL, _IOLBF, 0);
		fclose(s->fp);
		s->fp = fp;
		s->told = 0;
		done[reopened++] = sink_keys[i];
	}
	if (files == 0)
		log_info("SIGUSR1: no log file to reopen (the logs go to "
		    "stderr, syslog or nowhere)");
	else if (reopened == files)
		log_info("log files reopened");
	else if (reopened == 1)
		log_info("%s reopened", done[0]);
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

/* an access-log field: escaped, with its delimiters (blank and quote), "-"
 * when empty */
static const char *
access_field(const char *s, char *out, size_t len)
{
	if (s == NULL || *s == '\0')
		return "-";
	return log_escape(out, len, s, strlen(s), " \"");
}

void
log_access(const char *client, const char *sni, const char *host,
    const char *method, const char *path, unsigned status, size_t bytes,
    double duration_ms)
{
	char ts[64], b1[1024], b2[1024], b3[64], b4[2048];

	if (access_sink.off)
		return;
	log_timestamp(ts, sizeof(ts));
	if (log_json) {
		char e1[256 * 6], e2[256 * 6], e3[32 * 6], e4[256 * 6];

		json_escape(e1, sizeof(e1), sni, sni != NULL ? strlen(sni) : 0);
		json_escape(e2, sizeof(e2), host, host != NULL ? strlen(host) : 0);
		json_escape(e3, sizeof(e3), method, strlen(method));
		json_escape(e4, sizeof(e4), path, strlen(path));
		fprintf(sink_fp(&access_sink), "{\"ts\":\"%s\",\"type\":\"access\","
		    "\"client\":\"%s\",\"sni\":\"%s\",\"host\":\"%s\",\"method\":"
		    "\"%s\",\"path\":\"%s\",\"status\":%u,\"bytes\":%zu,"
		    "\"duration_ms\":%.3f}\n", ts, client, e1, e2, e3, e4, status,
		    bytes, duration_ms);
		return;
	}
	fprintf(sink_fp(&access_sink),
	    "%s access: %s sni=%s host=%s \"%s %s\" %u %zu %.3fms\n", ts,
	    client, access_field(sni, b1, sizeof(b1)),
	    access_field(host, b2, sizeof(b2)), access_field(method, b3, sizeof(b3)),
	    access_field(path, b4, sizeof(b4)), status, bytes, duration_ms);
}
