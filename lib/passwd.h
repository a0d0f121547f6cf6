/* passwd.h: SMTP AUTH credentials. A credential table maps a user name to a crypt(3)
 * hash (libxcrypt: yescrypt "$y$...", SHA-512 "$6$...", ...). It is an ordinary
 * lookup table (dict.h), normally hash:/etc/postern/sasl_passwd, built from the text
 * source of the same name without ".db" ("user hash" per line, mode 0600).
 * smtpd verifies passwords with passwd_verify(); `postern passwd` edits the source and
 * rebuilds the table with passwd_table_set()/passwd_table_delete(). */
#ifndef POSTERN_PASSWD_H
#define POSTERN_PASSWD_H
#include "str.h"

#define PASSWD_USER_MAX 255
#define PASSWD_PASSWORD_MAX 1024

/* 1 if `user` is acceptable as a login name: 1..255 printable ASCII characters, no
 * white space, no ':' (so a table source line stays unambiguous). */
int passwd_user_ok(const char *user);

/* Check user/password against the tables `maps` (NULL-terminated dict specs; first
 * match wins). Returns 1 when the password matches, 0 for an unknown user or a wrong
 * password (the same work is done in both cases), -1 when a table cannot be read or the
 * stored hash is unusable (reason in `why`). */
int passwd_verify(char **maps, const char *user, const char *password, str *why);

/* Hash a password with a fresh salt. `method`: "yescrypt" (default when NULL or ""),
 * "sha512". NULL with *err (malloc'd) on failure; the result is malloc'd. */
char *passwd_hash(const char *password, const char *method, char **err);

/* Add or replace (set) or remove (delete) a user in the table `spec` (hash: or btree:):
 * the text source is rewritten atomically (temp file + rename, mode 0600) and the table
 * rebuilt. passwd_table_set returns 0 or -1; passwd_table_delete returns 1 when removed,
 * 0 when the user was not there, -1 on error. Errors in *err (malloc'd). */
int passwd_table_set(const char *spec, const char *user, const char *hash, char **err);
int passwd_table_delete(const char *spec, const char *user, char **err);

/* Call fn for each user in the table (the built table, not the source); 0 or -1. */
int passwd_table_list(const char *spec, void (*fn)(const char *user, void *ctx), void *ctx,
                      char **err);

#endif
