/* params.h: the table of every main.cf parameter postern knows, with its compiled-in
 * default and type. Names follow Postfix wherever Postfix has the concept.
 * Defaults may reference other parameters ($myhostname) and are expanded on lookup. */
#ifndef POSTERN_PARAMS_H
#define POSTERN_PARAMS_H

enum param_type {
    PARAM_STR,      /* any string */
    PARAM_LIST,     /* comma/space separated list */
    PARAM_INT,      /* decimal integer >= 0 */
    PARAM_BOOL,     /* yes/no */
    PARAM_TIME,     /* integer with optional unit s,m,h,d,w (default unit given by param) */
    PARAM_SIZE      /* integer bytes */
};

struct param_def {
    const char *name;
    enum param_type type;
    const char *def;         /* default value, may contain $name; "" for empty */
    char time_unit;          /* for PARAM_TIME: default unit 's','m','h','d' ; else 0 */
};

/* NULL-name-terminated table of known parameters. */
extern const struct param_def param_table[];
const struct param_def *param_find(const char *name);

#endif
