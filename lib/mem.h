/* mem.h: allocation wrappers that never return NULL (out of memory is fatal).
 * Every program uses these instead of malloc/strdup so callers need no NULL checks. */
#ifndef POSTERN_MEM_H
#define POSTERN_MEM_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocating sprintf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
