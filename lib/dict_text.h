/* dict_text.h: the pieces shared by the table types that are read from a text file at
 * open time (regexp: in dict_regexp.c, cidr: in dict_cidr.c) and not built into a BDB
 * file: their openers (called by dict.c), buffer variants for unit tests and fuzzing, and
 * the logical-line reader they share. Keys of these tables are NOT lowercased. */
#ifndef POSTERN_DICT_TEXT_H
#define POSTERN_DICT_TEXT_H
#include <stddef.h>
#include "dict.h"

#define DICT_TEXT_LINE_MAX  65536           /* bytes of one logical line (with continuations) */
#define DICT_TEXT_RULES_MAX 100000          /* rules per table */
#define DICT_TEXT_FILE_MAX  (16L << 20)     /* bytes of a table file */
#define DICT_REGEXP_KEY_MAX (1L << 20)      /* longest key a regexp table is matched against */

/* Openers; `name` is the file path. NULL with *err (malloc'd, "file:LINE: reason"). */
dict *dict_regexp_open(const char *name, char **err);
dict *dict_cidr_open(const char *name, char **err);
/* Same from a buffer; `name` labels errors and the spec ("regexp:NAME"). */
dict *dict_regexp_open_buf(const char *name, const char *buf, size_t len, char **err);
dict *dict_cidr_open_buf(const char *name, const char *buf, size_t len, char **err);

/* Split buf into logical lines: blank lines and lines whose first byte is '#' are
 * skipped; a line that starts with whitespace continues the previous one (joined with
 * one space); trailing CR/whitespace is dropped. fn gets each logical line (NUL-ended,
 * the first byte is not whitespace) and the number of its first physical line; it
 * returns 0 to go on, or -1 with *err set. NUL bytes, lines over DICT_TEXT_LINE_MAX and
 * more than DICT_TEXT_RULES_MAX logical lines are errors. 0 or -1 with *err. */
typedef int (*dict_text_fn)(const char *line, int lineno, void *ctx, char **err);
int dict_text_parse(const char *name, const char *buf, size_t len, dict_text_fn fn, void *ctx,
                    char **err);
/* Read a whole regular file (at most DICT_TEXT_FILE_MAX bytes) into a malloc'd buffer. */
char *dict_text_read(const char *path, size_t *len, char **err);

#endif
