/* log.c - leveled error log to stderr and the access log */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static FILE *access_fp;			/* NULL: stderr */
static int access_off;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* "2026-11-28T10:00:00.123Z" */
static void
log_timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void
log_write(enum log_level level, const char *fmt, va_list ap)
{
	char ts[64], msg[2048];

	if (level > log_level)
		return;
	log_timestamp(ts, sizeof(ts));
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s mta-stsd %s: %s\n", ts, level_names[level], msg);
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

int
log_access_open(const char *dest)
{
	FILE *fp;

	if (dest == NULL || strcmp(dest, "stderr") == 0) {
		if (access_fp != NULL)
			fclose(access_fp);
		access_fp = NULL;
		access_off = 0;
		return 0;
	}
	if (strcmp(dest, "off") == 0) {
		if (access_fp != NULL)
			fclose(access_fp);
		access_fp = NULL;
		access_off = 1;
		return 0;
	}
	if ((fp = fopen(dest, "ae")) == NULL)
		return -1;
	setvbuf(fp, NULL, _IOLBF, 0);
	if (access_fp != NULL)
		fclose(access_fp);
	access_fp = fp;
	access_off = 0;
	return 0;
}

/* copy s into out, replacing anything that is not printable ASCII or is a
 * quote/backslash, so a client cannot forge log lines */
static const char *
log_clean(const char *s, char *out, size_t len)
{
	size_t i = 0;

	if (s == NULL || *s == '\0')
		return "-";
	for (; *s != '\0' && i + 1 < len; s++)
		out[i++] = (*s > 0x20 && *s < 0x7f && *s != '"' && *s != '\\') ?
		    *s : '?';
	out[i] = '\0';
	return out;
}

void
log_access(const char *client, const char *sni, const char *host,
    const char *method, const char *path, unsigned status, size_t bytes,
    double duration_ms)
{
	char ts[64], b1[256], b2[256], b3[32], b4[256];

	if (access_off)
		return;
	log_timestamp(ts, sizeof(ts));
	fprintf(access_fp != NULL ? access_fp : stderr,
	    "%s access: %s sni=%s host=%s \"%s %s\" %u %zu %.3fms\n", ts,
	    client, log_clean(sni, b1, sizeof(b1)),
	    log_clean(host, b2, sizeof(b2)), log_clean(method, b3, sizeof(b3)),
	    log_clean(path, b4, sizeof(b4)), status, bytes, duration_ms);
}
