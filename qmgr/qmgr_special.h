/* qmgr_special.h: the transports qmgr handles itself, without a delivery agent
 * (qmgr_special.c): "error", "discard" and "retry" from resolve_addr(). */
#ifndef POSTERN_QMGR_SPECIAL_H
#define POSTERN_QMGR_SPECIAL_H
#include "resolve.h"
#include "qmgr.h"

/* If r names a special transport, decide recipient ri of m now (log line, file mark,
 * bounce or defer) and return 1; else 0 (the caller files the recipient as usual). */
int qmgr_special_route(struct qmgr_message *m, int ri, const struct resolved *r);

#endif
