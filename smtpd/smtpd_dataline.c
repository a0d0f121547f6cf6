/* smtpd_dataline.c: the DATA line state machine (see smtpd_dataline.h). Pure: it only
 * looks at the bytes it is given, keeps its state in the caller's struct and never
 * allocates, so it is cheap per line and can be fuzzed on its own. */
#include <string.h>
#include "smtpd_dataline.h"

void smtpd_dataline_init(struct smtpd_dataline *st)
{
    memset(st, 0, sizeof(*st));
    st->at_crlf_bol = 1;       /* the first line after 354 may be the end */
}

enum smtpd_dataline_action smtpd_dataline_feed(struct smtpd_dataline *st,
                                               const char *data, size_t len, int complete,
                                               struct smtpd_dataline_out *out)
{
    const char *p = data;
    size_t n = len;
    int bol;

    out->data = data;
    out->len = 0;
    out->complete = 0;
    out->cr_first = 0;
    if (n == 0)
        return SMTPD_DATALINE_CONTENT;
    if (complete && p[n - 1] != '\n')
        complete = 0;                       /* trust the bytes, not the flag */

    /* A CR held back from the previous piece: CRLF if this piece is just "\n". */
    if (st->pending_cr) {
        st->pending_cr = 0;
        if (n == 1 && p[0] == '\n') {
            out->data = p + 1;
            out->complete = 1;
            st->at_crlf_bol = 1;
            st->bytes += 2;
            return SMTPD_DATALINE_CONTENT;
        }
        st->bare_cr = 1;
        out->cr_first = 1;
        st->bytes += 1;
    }

    bol = st->at_crlf_bol;
    st->at_crlf_bol = 0;

    if (complete) {
        size_t body = n - 1;
        int crlf = 0;

        if (body > 0 && p[body - 1] == '\r') {
            crlf = 1;
            body--;
        }
        if (bol && crlf && body == 1 && p[0] == '.')
            return SMTPD_DATALINE_END;
        if (!crlf)
            st->bare_lf = 1;
        if (bol && body > 0 && p[0] == '.') {
            p++;
            body--;
        }
        if (body > 0 && memchr(p, '\r', body) != NULL)
            st->bare_cr = 1;
        if (body > 0 && memchr(p, '\n', body) != NULL)
            st->bare_lf = 1;                /* only if a caller fed several lines */
        st->at_crlf_bol = crlf;
        st->bytes += body + 2;
        out->data = p;
        out->len = body;
        out->complete = 1;
        return SMTPD_DATALINE_CONTENT;
    }

    /* A piece of a long line (or the last bytes before EOF): no '\n' in it. */
    if (bol && p[0] == '.') {
        p++;
        n--;
    }
    if (n > 0 && p[n - 1] == '\r') {
        st->pending_cr = 1;
        n--;
    }
    if (n > 0 && memchr(p, '\r', n) != NULL)
        st->bare_cr = 1;
    if (n > 0 && memchr(p, '\n', n) != NULL)
        st->bare_lf = 1;                    /* only if a caller lied about `complete` */
    st->bytes += n;
    out->data = p;
    out->len = n;
    return SMTPD_DATALINE_CONTENT;
}
