/* cleanup_header.c: the message header parser of cleanup (see cleanup_header.h).
 * Pure code: no I/O, no configuration, no globals. Every input is bounded by the size
 * limit given to hdr_init(), and nothing is stored past it. */
#include "cleanup_header.h"
#include <string.h>
#include <strings.h>
#include "record.h"

enum hdr_known { FIELD_OTHER = 0, FIELD_RECEIVED, FIELD_MESSAGE_ID, FIELD_DATE, FIELD_FROM };

void hdr_init(struct hdr_state *h, size_t size_limit, long hop_limit)
{
    memset(h, 0, sizeof(*h));
    h->size_limit = size_limit;
    h->hop_limit = hop_limit;
    str_init(&h->message_id);
    str_init(&h->block);
}

void hdr_free(struct hdr_state *h)
{
    str_free(&h->message_id);
    str_free(&h->block);
}

static int is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 ftext: printable US-ASCII except ':'. */
static int is_ftext(int c)
{
    return c >= 33 && c <= 126 && c != ':';
}

/* Length of the field name when the line is "Name:" or "Name WSP* :" (obsolete syntax),
 * else 0. */
static size_t field_name_len(const char *data, size_t len)
{
    size_t n = 0, i;

    while (n < len && is_ftext((unsigned char)data[n]))
        n++;
    if (n == 0)
        return 0;
    for (i = n; i < len && is_wsp((unsigned char)data[i]); i++)
        ;
    return (i < len && data[i] == ':') ? n : 0;
}

enum hdr_line_kind hdr_classify(const char *data, size_t len, int complete, int have_field)
{
    if (len == 0)
        return complete ? HDR_LINE_BLANK : HDR_LINE_BODY;
    if (is_wsp((unsigned char)data[0]))
        return have_field ? HDR_LINE_CONT : HDR_LINE_BODY;
    return field_name_len(data, len) ? HDR_LINE_FIELD : HDR_LINE_BODY;
}

static int name_is(const char *data, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(data, name, n) == 0;
}

static enum hdr_known field_identify(const char *data, size_t len)
{
    size_t n = field_name_len(data, len);

    if (name_is(data, n, "Received"))
        return FIELD_RECEIVED;
    if (name_is(data, n, "Message-ID"))
        return FIELD_MESSAGE_ID;
    if (name_is(data, n, "Date"))
        return FIELD_DATE;
    if (name_is(data, n, "From"))
        return FIELD_FROM;
    return FIELD_OTHER;
}

/* Keep up to HDR_MSGID_MAX bytes of the Message-ID value (unfolded: line breaks dropped). */
static void msgid_append(struct hdr_state *h, const char *data, size_t len)
{
    size_t room = HDR_MSGID_MAX - h->message_id.len;

    if (len > room)
        len = room;
    if (len > 0)
        str_append(&h->message_id, data, len);
}

/* The field being read ends: tidy up what we kept of it. */
static void field_end(struct hdr_state *h)
{
    if (h->cur_field == FIELD_MESSAGE_ID) {
        size_t start = 0, end = h->message_id.len;
        const char *s = h->message_id.data;

        while (start < end && is_wsp((unsigned char)s[start]))
            start++;
        while (end > start && is_wsp((unsigned char)s[end - 1]))
            end--;
        memmove(h->message_id.data, s + start, end - start);
        str_truncate(&h->message_id, end - start);
    }
    h->cur_field = FIELD_OTHER;
}

/* Field start: record what kind it is. Returns 0 or HDR_TOO_MANY_HOPS. */
static int field_start(struct hdr_state *h, const char *data, size_t len)
{
    enum hdr_known kind = field_identify(data, len);

    field_end(h);
    h->seen_field = 1;
    switch (kind) {
    case FIELD_RECEIVED:
        if (++h->received_count >= h->hop_limit)
            return HDR_TOO_MANY_HOPS;
        break;
    case FIELD_MESSAGE_ID:
        if (!h->have_message_id) {
            const char *colon = memchr(data, ':', len);   /* present: field_name_len said so */
            h->have_message_id = 1;
            h->cur_field = FIELD_MESSAGE_ID;
            msgid_append(h, colon + 1, len - (size_t)(colon + 1 - data));
        }
        return 0;
    case FIELD_DATE:
        h->have_date = 1;
        break;
    case FIELD_FROM:
        h->have_from = 1;
        break;
    default:
        break;
    }
    return 0;
}

int hdr_feed(struct hdr_state *h, const char *data, size_t len, int complete)
{
    size_t add = len + (complete ? 1 : 0);

    if (h->error)
        return h->error;
    if (h->done)
        return HDR_BODY;

    if (!h->in_line) {
        switch (hdr_classify(data, len, complete, h->seen_field)) {
        case HDR_LINE_BLANK:
        case HDR_LINE_BODY:
            field_end(h);
            h->done = 1;
            return HDR_BODY;
        case HDR_LINE_FIELD:
            if (add > h->size_limit - h->bytes || h->bytes > h->size_limit)
                return h->error = HDR_TOO_BIG;
            if (field_start(h, data, len) != 0)
                return h->error = HDR_TOO_MANY_HOPS;
            break;
        case HDR_LINE_CONT:
            if (add > h->size_limit - h->bytes || h->bytes > h->size_limit)
                return h->error = HDR_TOO_BIG;
            if (h->cur_field == FIELD_MESSAGE_ID)
                msgid_append(h, data, len);
            break;
        }
    } else {
        /* The rest of a long header line. */
        if (add > h->size_limit - h->bytes || h->bytes > h->size_limit)
            return h->error = HDR_TOO_BIG;
        if (h->cur_field == FIELD_MESSAGE_ID)
            msgid_append(h, data, len);
    }

    h->bytes += add;
    rec_encode(&h->block, complete ? REC_NORM : REC_CONT, data, len);
    h->in_line = !complete;
    if (complete)
        h->lines++;
    return HDR_MORE;
}

void hdr_finish(struct hdr_state *h)
{
    if (!h->done && !h->error) {
        field_end(h);
        h->done = 1;
    }
}
