/* config.h: main.cf access for every program.
 *
 * main.cf syntax (as Postfix): "name = value"; lines starting with whitespace continue the
 * previous value; '#' lines and blank lines ignored; $name and ${name} expand to other
 * parameters when looked up (recursively, loops are an error); $$ is a literal '$'.
 * Every parameter has a compiled-in default (params.c). Overrides from the command line
 * (-o name=value, as master.cf passes them) take precedence over main.cf.
 *
 * Errors in the file are reported as "FILE:LINE: message". Unknown parameter names are
 * kept (they may be referenced as $name) and reported by config_unknown_params(). */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H
#include "str.h"

/* Load CONFDIR/main.cf (missing file = all defaults). The config directory is remembered
 * (config_dir()). Returns 0, or -1 with a message "file:line: ..." in *err (malloc'd). */
int config_load(const char *confdir, char **err);
/* Same but from a string (for tests); `name` is used in error messages. */
int config_load_string(const char *text, const char *name, char **err);
void config_reset(void);                       /* forget everything loaded/overridden */
const char *config_dir(void);
const char *config_file_path(void);            /* CONFDIR/main.cf */

/* "name=value" override; 0 or -1 (malformed). */
int config_override(const char *name_eq_value);
void config_set(const char *name, const char *value);

/* Look-ups. The returned strings are owned by the config module and stay valid until the
 * next config_load/config_reset. An unknown parameter with no value is a panic (programming
 * error). Values that do not parse as their type are fatal with a message naming the
 * parameter and its source file:line. */
const char *config_str(const char *name);      /* fully expanded */
const char *config_raw(const char *name);      /* as written (or the default), unexpanded;
                                                  NULL for an unknown name that is not set */
long config_int(const char *name);
int config_bool(const char *name);
long config_time(const char *name);            /* seconds */
long config_size(const char *name);
char **config_list(const char *name);          /* expanded + split on ", \t\r\n" (not inside
                                                  {...}: inline:{ a=b, c=d } is one item); strv_free */
int config_is_set(const char *name);           /* set in main.cf or by override */
int config_line(const char *name);             /* main.cf line that sets NAME (in effect);
                                                  0: default, override or unknown */

/* Validation helpers for `postern check`: parse every set parameter against its type.
 * Appends one line per problem ("main.cf:12: bad value for message_size_limit: ...")
 * to `report`; returns the number of problems. Unknown names count as problems only if
 * `strict`. */
int config_validate(str *report, int strict);
/* Iterate over parameters set in main.cf/overrides: calls fn(name, raw_value). */
void config_foreach_set(void (*fn)(const char *name, const char *raw, void *ctx), void *ctx);
/* Log "warning: FILE:LINE: unknown parameter NAME" once per loaded setting (daemons call
 * this after loading; server_main does it for every daemon). */
void config_warn_unknown(void);

/* Parse a time value ("300s", "5m", "1h", "2d", "1w"; bare number uses default_unit).
 * Returns 0 or -1. */
int parse_time(const char *s, char default_unit, long *seconds);
/* Parse a yes/no/true/false/1/0 value; 0 or -1. */
int parse_bool(const char *s, int *out);

#endif
