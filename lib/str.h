/* str.h: growable byte strings (always NUL-terminated, may contain NULs) and small
 * string helpers shared by every program. */
#ifndef POSTERN_STR_H
#define POSTERN_STR_H
#include <stddef.h>
#include <stdarg.h>

typedef struct str {
    char *data;     /* always NUL-terminated after any str_* call; never NULL after str_init */
    size_t len;
    size_t cap;
} str;

void str_init(str *s);                       /* empty string, allocated */
void str_free(str *s);                       /* releases memory; s may be re-inited */
void str_reset(str *s);                      /* len = 0, keeps memory */
void str_truncate(str *s, size_t len);
void str_append(str *s, const void *data, size_t len);
void str_appends(str *s, const char *cstr);
void str_putc(str *s, int c);
void str_set(str *s, const char *cstr);     /* replace contents */
void str_setn(str *s, const void *data, size_t len);
void str_appendf(str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void str_vappendf(str *s, const char *fmt, va_list ap);
void str_printf(str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* replace */
char *str_steal(str *s);                     /* return data, caller frees; s becomes empty+inited */

/* --- helpers on C strings --- */
void lowercase(char *s);                     /* ASCII only, in place */
char *trim(char *s);                         /* strips leading/trailing ASCII whitespace in place */
int strcaseprefix(const char *s, const char *prefix); /* 1 if s starts with prefix, ASCII case-insensitive */
/* Split a list on any of the chars in `seps` (e.g. ", \t\r\n"), skipping empty items.
 * Returns a NULL-terminated array of malloc'd strings; free with strv_free. */
char **strv_split(const char *s, const char *seps);
/* Like strv_split, but separators inside {...} (nested) do not split: "inline:{ a=b, c=d }"
 * stays one item, as in Postfix list parameters. An unbalanced '{' runs to the end. */
char **strv_split_braced(const char *s, const char *seps);
void strv_free(char **v);
size_t strv_len(char **v);
/* Parse a decimal integer that must fill the whole string; 0 on success, -1 on error/overflow. */
int parse_long(const char *s, long *out);

#endif
