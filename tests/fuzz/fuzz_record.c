/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the record and state parsers and the state's two-slot
 * file (slots.h), with round-trip checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "slots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct otp_record r, r2;
        struct otp_state s, s2;
        char buf[RECORD_MAX_SIZE], err[128];
        size_t len = 0;

        if (record_parse((const char *)data, size, &r, err, sizeof(err)) == MAILOTP_OK) {
                /* Whatever parses must serialise and parse back to the same record. */
                if (record_format(&r, buf, sizeof(buf), &len) != MAILOTP_OK ||
                    record_parse(buf, len, &r2, err, sizeof(err)) != MAILOTP_OK ||
                    memcmp(&r, &r2, sizeof(r)) != 0)
                        abort();
        }
        if (state_parse((const char *)data, size, &s, err, sizeof(err)) == MAILOTP_OK) {
                if (state_format(&s, buf, sizeof(buf), &len) != MAILOTP_OK ||
                    state_parse(buf, len, &s2, err, sizeof(err)) != MAILOTP_OK ||
                    memcmp(&s, &s2, sizeof(s)) != 0)
                        abort();
        }
        /* The input as a slot file image (only 8192-byte inputs can pass). */
        {
                static unsigned char slot[SLOTS_SLOT_SIZE];
                const unsigned char *payload, *p2;
                size_t plen, l2;
                uint64_t seq, seq2;

                if (slots_pick(data, size, &seq, &payload, &plen) >= 0) {
                        if (slots_encode(seq, payload, plen, slot) != 0 ||
                            slots_decode(slot, &seq2, &p2, &l2) != 1 || seq2 != seq || l2 != plen ||
                            memcmp(p2, payload, plen) != 0)
                                abort();
                        (void)state_parse((const char *)payload, plen, &s, err, sizeof(err));
                }
                /* Any input up to a slot's size as a payload: encoded, it decodes back. */
                if (size > 0 && size <= SLOTS_PAYLOAD_MAX) {
                        if (slots_encode(size, data, size, slot) != 0 ||
                            slots_decode(slot, &seq2, &p2, &l2) != 1 || seq2 != size ||
                            l2 != size || memcmp(p2, data, size) != 0)
                                abort();
                }
        }
        return 0;
}
