/* log.c: Postfix-style logging for every program. One formatted line per call goes to
 * syslog (LOG_MAIL), to a file shared by all processes (O_APPEND, one write(2) per line)
 * or to stderr. Lines are built in a fixed buffer (no allocation, so out-of-memory can
 * still be logged), truncated when absurdly long, and control characters in the text
 * are replaced by '?' so a logged value can never forge extra log lines. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192          /* text longer than this is truncated */
#define LOG_TAG_MAX 128

enum log_dest { DEST_STDERR, DEST_FILE, DEST_SYSLOG };

int msg_verbose;

static enum log_dest log_dest = DEST_STDERR;
static int log_fd = -1;
static char log_tag[LOG_TAG_MAX];       /* "postern/smtpd" */
static char log_host[256];              /* short host name for file lines */

void log_set_verbose(int level)
{
    msg_verbose = level;
}

static void set_tag(const char *syslog_name, const char *progname)
{
    if (!syslog_name || !*syslog_name)
        syslog_name = "postern";
    if (!progname || !*progname)
        progname = program_invocation_short_name;
    snprintf(log_tag, sizeof log_tag, "%s/%s", syslog_name, progname);
}

static void set_host(void)
{
    if (gethostname(log_host, sizeof log_host - 1) != 0 || !log_host[0])
        strcpy(log_host, "localhost");
    log_host[sizeof log_host - 1] = 0;
    char *dot = strchr(log_host, '.');
    if (dot && dot != log_host)
        *dot = 0;
}

void log_open(const char *syslog_name, const char *progname, const char *dest)
{
    int saved_errno = errno;
    set_tag(syslog_name, progname);
    set_host();
    if (log_fd >= 0) {
        close(log_fd);
        log_fd = -1;
    }
    if (log_dest == DEST_SYSLOG)
        closelog();
    if (!dest || !*dest || strcmp(dest, "syslog") == 0) {
        log_dest = DEST_SYSLOG;
        openlog(log_tag, LOG_PID | LOG_NDELAY, LOG_MAIL);
    } else if (strcmp(dest, "-") == 0 || strcmp(dest, "/dev/stderr") == 0) {
        log_dest = DEST_STDERR;
    } else {
        log_fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (log_fd < 0) {
            int e = errno;
            log_dest = DEST_STDERR;
            msg_warn("cannot open log file %s: %s; logging to stderr", dest, strerror(e));
        } else {
            log_dest = DEST_FILE;
        }
    }
    errno = saved_errno;
}

static const char *level_prefix(int level)
{
    switch (level) {
    case LOG_WARNING: return "warning: ";
    case LOG_ERR:     return "error: ";
    case LOG_CRIT:    return "fatal: ";
    case LOG_ALERT:
    case LOG_EMERG:   return "panic: ";
    default:          return "";
    }
}

/* Replace bytes that could break the one-line-per-event format. */
static void sanitize(char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            *s = '?';
    }
}

static void write_all(int fd, const char *buf, size_t len)
{
    int tries = 0;
    while (len > 0 && tries++ < 100) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void msg_vlog(int level, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char text[LOG_LINE_MAX + 64];
    size_t plen;

    if (!log_tag[0])
        set_tag(NULL, NULL);
    plen = (size_t)snprintf(text, sizeof text, "%s", level_prefix(level));
    int n = vsnprintf(text + plen, LOG_LINE_MAX, fmt, ap);
    if (n < 0)
        snprintf(text + plen, LOG_LINE_MAX, "(bad log format: %s)", fmt);
    else if ((size_t)n >= LOG_LINE_MAX)
        strcpy(text + plen + LOG_LINE_MAX - 1 - 15, "...(truncated)");
    sanitize(text);

    if (log_dest == DEST_SYSLOG) {
        syslog(level, "%s", text);
    } else {
        char line[sizeof text + LOG_TAG_MAX + 320];
        int len;
        if (log_dest == DEST_FILE) {
            char stamp[32];
            struct tm tm;
            time_t now = time(NULL);
            localtime_r(&now, &tm);
            strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
            len = snprintf(line, sizeof line, "%s %s %s[%ld]: %s\n",
                           stamp, log_host, log_tag, (long)getpid(), text);
        } else {
            len = snprintf(line, sizeof line, "%s[%ld]: %s\n",
                           log_tag, (long)getpid(), text);
        }
        if (len > 0) {
            size_t l = (size_t)len < sizeof line ? (size_t)len : sizeof line - 1;
            line[l - 1] = '\n';
            write_all(log_dest == DEST_FILE ? log_fd : STDERR_FILENO, line, l);
        }
    }
    errno = saved_errno;
}

#define DEFINE_LOGGER(fn, level)                        \
    void fn(const char *fmt, ...)                       \
    {                                                   \
        va_list ap;                                     \
        va_start(ap, fmt);                              \
        msg_vlog(level, fmt, ap);                       \
        va_end(ap);                                     \
    }

DEFINE_LOGGER(msg_info, LOG_INFO)
DEFINE_LOGGER(msg_warn, LOG_WARNING)
DEFINE_LOGGER(msg_error, LOG_ERR)

void msg_debug(const char *fmt, ...)
{
    if (msg_verbose <= 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_DEBUG, fmt, ap);
    va_end(ap);
}

void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_CRIT, fmt, ap);
    va_end(ap);
    exit(1);
}

void msg_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(LOG_ALERT, fmt, ap);
    va_end(ap);
    abort();
}
