/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the record and state parsers, the two-slot file
 * (slots.h) with its extension, and the user file's payload (userfile.h:
 * record text, then state text), with round-trip checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "slots.h"
#include "userfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * p[0..len) as a user file's payload: split at the record's end line, each
 * part through its parser; what parses is formatted again, joined, and must
 * split back at the same place and parse back to the same values.
 */
static void check_user_payload(const char *p, size_t len)
{
        static char rbuf[RECORD_MAX_SIZE], sbuf[SLOTS_PAYLOAD_MAX], out[SLOTS_PAYLOAD_MAX];
        struct otp_record r, r2;
        struct otp_state s, s2;
        enum mailotp_rc rrc, src;
        size_t reclen = 0, reclen2 = 0, rlen = 0, slen = 0, olen = 0;
        char err[128];

        if (userfile_split(p, len, &reclen) != 0) {
                /* no end line or a NUL byte: never a record part, whatever follows */
                if (reclen != 0 || (len > 0 && userfile_join(p, len, NULL, 0, out, sizeof(out),
                                                             &olen) == MAILOTP_OK))
                        abort();
                return;
        }
        /* the record part ends with its first end line, and nothing before it is one */
        if (reclen < 4 || reclen > len || memcmp(p + reclen - 4, "end\n", 4) != 0 ||
            (reclen > 4 && p[reclen - 5] != '\n') || memchr(p, '\0', len) != NULL)
                abort();
        for (size_t i = 0; i + 4 < reclen; i++) {
                if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, "end\n", 4) == 0)
                        abort();
        }
        /* the parts joined again are the payload, when it fits a slot */
        if (len <= sizeof(out)) {
                if (userfile_join(p, reclen, p + reclen, len - reclen, out, sizeof(out), &olen) !=
                        MAILOTP_OK ||
                    olen != len || memcmp(out, p, len) != 0)
                        abort();
        }
        rrc = record_parse(p, reclen, &r, err, sizeof(err));
        src = reclen < len ? state_parse(p + reclen, len - reclen, &s, err, sizeof(err))
                           : MAILOTP_ERR_NOT_FOUND;
        if (rrc != MAILOTP_OK)
                return;
        if (record_format(&r, rbuf, sizeof(rbuf), &rlen) != MAILOTP_OK)
                abort();
        if (src == MAILOTP_OK && state_format(&s, sbuf, sizeof(sbuf), &slen) != MAILOTP_OK)
                abort();
        if (rlen + slen > sizeof(out))
                return; /* the store refuses this write; the parsers still had their go */
        if (userfile_join(rbuf, rlen, sbuf, slen, out, sizeof(out), &olen) != MAILOTP_OK ||
            olen != rlen + slen || userfile_split(out, olen, &reclen2) != 0 || reclen2 != rlen)
                abort();
        if (record_parse(out, reclen2, &r2, err, sizeof(err)) != MAILOTP_OK ||
            memcmp(&r, &r2, sizeof(r)) != 0)
                abort();
        if (slen > 0 &&
            (state_parse(out + reclen2, olen - reclen2, &s2, err, sizeof(err)) != MAILOTP_OK ||
             memcmp(&s, &s2, sizeof(s)) != 0))
                abort();
}

/*
 * The extension (if any) of a slot that decoded with payload[0..plen) under
 * seq: inside the slot, after the payload, and slots_encode_ext of the same
 * parts gives the same bytes up to its end, with an extension that
 * slots_ext returns identically.  out: a scratch slot.
 */
static void check_ext(const unsigned char *slot, uint64_t seq, const unsigned char *payload,
                      size_t plen, unsigned char *out)
{
        const unsigned char *ext = slot, *ext2, *p2;
        size_t extlen = 99, extlen2 = 0, l2, end;
        uint64_t seq2;

        if (!slots_ext(slot, plen, &ext, &extlen)) {
                if (ext != NULL || extlen != 0)
                        abort();
                return;
        }
        end = SLOTS_HEADER_SIZE + plen + SLOTS_EXT_HEADER + extlen;
        if (extlen == 0 || extlen > slots_ext_room(plen) || end > SLOTS_SLOT_SIZE ||
            ext != slot + SLOTS_HEADER_SIZE + plen + SLOTS_EXT_HEADER)
                abort();
        if (slots_encode_ext(seq, payload, plen, ext, extlen, out) != 0 ||
            memcmp(out, slot, end) != 0 || slots_decode(out, &seq2, &p2, &l2) != 1 || seq2 != seq ||
            l2 != plen || slots_ext(out, plen, &ext2, &extlen2) != 1 || extlen2 != extlen ||
            ext2 != out + (ext - slot) || memcmp(ext2, ext, extlen) != 0)
                abort();
}

/*
 * Any input as a payload and an extension (split where its first two bytes
 * say): encoded when they fit together, both read back; refused when not.
 */
static void split_payload_and_ext(const uint8_t *data, size_t size)
{
        static unsigned char slot[SLOTS_SLOT_SIZE];
        const unsigned char *p, *ext;
        size_t plen, extlen, l, el;
        uint64_t seq;
        int fits;

        if (size < 3)
                return;
        plen = (((size_t)data[0] | (size_t)data[1] << 8) % (size - 2)) + 1;
        extlen = size - 2 - plen;
        fits = plen <= SLOTS_PAYLOAD_MAX &&
               SLOTS_HEADER_SIZE + plen + (extlen > 0 ? SLOTS_EXT_HEADER + extlen : 0) <=
                   SLOTS_SLOT_SIZE;
        if (slots_encode_ext(size, data + 2, plen, data + 2 + plen, extlen, slot) !=
            (fits ? 0 : -1))
                abort();
        if (!fits)
                return;
        if (slots_decode(slot, &seq, &p, &l) != 1 || seq != size || l != plen ||
            memcmp(p, data + 2, plen) != 0 || slots_ext(slot, l, &ext, &el) != (extlen > 0) ||
            el != extlen || (extlen > 0 && memcmp(ext, data + 2 + plen, extlen) != 0))
                abort();
}

/*
 * Any bytes where an extension would be, after any payload length, in a
 * heap copy of exactly one slot: slots_ext never reads outside it (ASan),
 * and what it takes lies inside it.
 */
static void any_bytes_as_ext(const uint8_t *data, size_t size)
{
        unsigned char *slot;
        const unsigned char *ext;
        size_t len, at, extlen;

        if (size < 2)
                return;
        slot = calloc(1, SLOTS_SLOT_SIZE);
        if (slot == NULL)
                return;
        len = ((size_t)data[0] | (size_t)data[1] << 8) % (SLOTS_PAYLOAD_MAX + 2);
        at = SLOTS_HEADER_SIZE + len < SLOTS_SLOT_SIZE ? SLOTS_HEADER_SIZE + len : SLOTS_SLOT_SIZE;
        memcpy(slot + 8, data + 2, size - 2 < 8 ? size - 2 : 8); /* a sequence number */
        if (size > 10)
                memcpy(slot + at, data + 10,
                       size - 10 < SLOTS_SLOT_SIZE - at ? size - 10 : SLOTS_SLOT_SIZE - at);
        if (slots_ext(slot, len, &ext, &extlen) &&
            (len > SLOTS_PAYLOAD_MAX || extlen == 0 || ext < slot + at ||
             ext + extlen > slot + SLOTS_SLOT_SIZE))
                abort();
        free(slot);
}

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
        /* The input as a user file's payload. */
        check_user_payload((const char *)data, size);
        /* The input as a slot file image (only 8192-byte inputs can pass). */
        {
                static unsigned char slot[SLOTS_SLOT_SIZE];
                const unsigned char *payload, *p2;
                size_t plen, l2;
                uint64_t seq, seq2;

                int idx = slots_pick(data, size, &seq, &payload, &plen);

                if (idx >= 0) {
                        if (slots_encode(seq, payload, plen, slot) != 0 ||
                            slots_decode(slot, &seq2, &p2, &l2) != 1 || seq2 != seq || l2 != plen ||
                            memcmp(p2, payload, plen) != 0)
                                abort();
                        /* its extension, encoded again, is the same bytes and reads back */
                        check_ext(data + (size_t)idx * SLOTS_SLOT_SIZE, seq, payload, plen, slot);
                        (void)state_parse((const char *)payload, plen, &s, err, sizeof(err));
                        /* a user file: its current slot's payload */
                        check_user_payload((const char *)payload, plen);
                }
                /* Any input up to a slot's size as a payload: encoded, it decodes back. */
                if (size > 0 && size <= SLOTS_PAYLOAD_MAX) {
                        if (slots_encode(size, data, size, slot) != 0 ||
                            slots_decode(slot, &seq2, &p2, &l2) != 1 || seq2 != size ||
                            l2 != size || memcmp(p2, data, size) != 0)
                                abort();
                }
                split_payload_and_ext(data, size);
                any_bytes_as_ext(data, size);
        }
        return 0;
}
