/* log.h: logging for every program, Postfix style:
 *   "Nov 23 13:12:58 host postern/smtpd[1234]: 4Xb7Q2kL9mZ: client=..."
 * Destination is chosen by log_open(): syslog (mail facility), a file (appended with
 * O_APPEND, one write() per line so processes can share it) or stderr.
 * msg_fatal exits with status 1; msg_panic aborts. */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H
#include <stdarg.h>

/* progname: "smtpd", "master", ...; syslog_name: "postern" (parameter syslog_name).
 * dest: NULL or "" or "syslog" -> syslog; "/dev/stderr" or "-" -> stderr; else a file path. */
void log_open(const char *syslog_name, const char *progname, const char *dest);
void log_set_verbose(int level);             /* msg_debug prints when level > 0 */
extern int msg_verbose;

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_vlog(int level, const char *fmt, va_list ap); /* level: LOG_INFO, LOG_WARNING, ... */

#endif
