/* pickup.h: the pickup daemon, postern's door for local submissions. It listens on the
 * world-writable socket $queue_directory/public/$pickup_service_name (master.cf
 * "pickup unix n ..."), runs as $mail_owner, and treats every client as hostile:
 *
 *   pickup   -> client : protocol=pickup                       (attr list)
 *   client   -> pickup : records (lib/record.h), in this order:
 *                        A  name=value   only names in the allow-list (full_name)
 *                        F  sender       exactly one ("" = null sender)
 *                        O  orig rcpt    optional, before its R
 *                        R  recipient    1..PICKUP_MAX_RCPT, "local@domain"
 *                        M               start of content (empty)
 *                        N / L           content lines, each record <= PICKUP_MAX_LINE_REC
 *                        X               end of content (empty; not right after L)
 *                        E               end: "commit now"
 *   pickup   -> client : status=0 queue_id=ID | status=4|5 dsn=x.y.z reason=text
 *
 * pickup learns the client's uid with SO_PEERCRED, validates and canonicalizes every
 * envelope address (lib/addr.h), and only then opens a cleanup transaction (lib/submit.h,
 * SUBMIT_FLAG_LOCAL) in which it sets protocol=LOCAL and uid=<peer uid> itself. So a
 * local user can never make a message claim a client address, HELO name, SASL login or
 * another uid. Content is relayed record by record (bounded by message_size_limit) and
 * cleanup's verdict is passed back. A malformed stream aborts the cleanup transaction
 * (cleanup removes the file) and is answered with status=5 dsn=5.5.0. */
#ifndef POSTERN_PICKUP_H
#define POSTERN_PICKUP_H
#include <sys/types.h>
#include "bio.h"
#include "str.h"
#include "submit.h"

#define PICKUP_MAX_ENV_REC 4096          /* bytes per A/F/O/R record */
#define PICKUP_MAX_RCPT 10000            /* recipients per message */
#define PICKUP_MAX_LINE_REC (64 * 1024)  /* bytes per N/L record */
#define PICKUP_MAX_FULL_NAME 256

struct pickup_request {
    uid_t uid;                  /* the client, from SO_PEERCRED */
    pid_t pid;
    char *sender;               /* canonical; "" = null sender; NULL until F */
    char **rcpts;               /* canonical recipients */
    char **orcpts;              /* matching original recipients (entry may be NULL) */
    int rcpt_count;
    char *full_name;            /* from A full_name=, or NULL */
};

/* Results of the readers below. */
enum { PICKUP_OK = 0, PICKUP_LOST = -1, PICKUP_PROTO = -2, PICKUP_TOO_BIG = -3 };

void pickup_request_init(struct pickup_request *rq);
void pickup_request_free(struct pickup_request *rq);

/* Read and check the envelope up to and including the M record (pickup_envelope.c).
 * Returns PICKUP_OK, PICKUP_LOST (EOF/timeout/IO error) or PICKUP_PROTO, with a
 * description in `why`. */
int pickup_read_envelope(bio *client, struct pickup_request *rq, str *why);

/* Relay content records after M up to and including E into the cleanup transaction
 * (pickup_content.c). *size gets the message size (LF line ends). Returns PICKUP_OK,
 * PICKUP_LOST, PICKUP_PROTO or PICKUP_TOO_BIG (over message_size_limit), with `why`. */
int pickup_relay_content(bio *client, submit *s, long *size, str *why);

#endif
