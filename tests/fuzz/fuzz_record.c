/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the record and state parsers, with a round-trip check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

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
        return 0;
}
