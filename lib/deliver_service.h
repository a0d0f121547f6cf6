/* deliver_service.h: the service loop shared by the delivery agents (local/, smtp/).
 * One connection from qmgr carries one or more delivery requests, one after the other
 * (docs/PROTOCOLS.md section 3): we announce protocol=delivery once, then per request read
 * it, verify it (deliver_request.h), give the
 * agent the recipients that matched the queue file, and send qmgr one reply list with a
 * status per recipient. Recipients the agent never sees (the queue file cannot be used,
 * or the request does not match it) are deferred and logged here. */
#ifndef POSTERN_DELIVER_SERVICE_H
#define POSTERN_DELIVER_SERVICE_H
#include "deliver_request.h"

struct deliver_agent {
    int max_rcpts;                      /* per request; the reply must fit ATTR_MAX_COUNT */
    const char *relay;                  /* relay= for recipients failed here ("local"), or
                                         * NULL for "none" */
    unsigned watchdog;                  /* seconds: alarm() around loading and delivery
                                         * (the agent's SIGALRM handler ends it); 0 none */
    /* Deliver every recipient with valid set: set its result and log its line(s).
     * Recipients without valid already carry their (logged) result. */
    void (*deliver)(struct deliver_msg *m, struct deliver_rcpt *rcpts, int n);
    /* qmgr closed the connection (or it failed): no more requests will come on it, so
     * release what was kept for the next one (the smtp agent's open session). May be NULL. */
    void (*done)(void);
};

/* Serve the requests that come on fd until qmgr closes it (a server_ops.service body). */
void deliver_service(int fd, const struct deliver_agent *agent);

#endif
