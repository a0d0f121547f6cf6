/* fuzz_header.c: libFuzzer target for cleanup's header parser (cleanup/cleanup_header.c).
 * The input is split into content pieces the way the submission stream carries them:
 * lines at '\n'; a NUL byte ends a piece early as an L record (partial line), so the
 * fuzzer explores long lines split across records too. The first byte picks small size
 * and hop limits so the limit paths are reached. Checks the parser's invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../cleanup/cleanup_header.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hdr_state h;
    size_t limit, pos = 1, start;
    long hops;
    int rc = HDR_MORE;

    if (size < 1)
        return 0;
    limit = (size_t)(data[0] & 0x0f) * 64 + 1;
    hops = (data[0] >> 4) + 1;
    hdr_init(&h, limit, hops);
    while (pos <= size && rc == HDR_MORE) {
        int complete = 1;
        start = pos;
        while (pos < size && data[pos] != '\n' && data[pos] != 0)
            pos++;
        if (pos < size && data[pos] == 0)
            complete = 0;
        if (pos >= size && start == size)
            break;
        rc = hdr_feed(&h, (const char *)data + start, pos - start, complete);
        pos++;
    }
    if (rc == HDR_MORE)
        hdr_finish(&h);
    if (h.bytes > limit || h.message_id.len > HDR_MSGID_MAX)
        abort();
    if (h.received_count > hops)
        abort();
    /* The kept block must decode as records and add up to the counted bytes. */
    {
        size_t off = 0, counted = 0;
        while (off < h.block.len) {
            int type;
            const char *d;
            size_t dl;
            const char *err;
            long n = rec_decode(h.block.data + off, h.block.len - off, &type, &d, &dl, &err);
            if (n <= 0 || (type != REC_NORM && type != REC_CONT))
                abort();
            counted += dl + (type == REC_NORM);
            off += (size_t)n;
        }
        if (counted != h.bytes)
            abort();
    }
    hdr_free(&h);
    return 0;
}
