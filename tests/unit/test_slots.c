/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two-slot file format (src/slots.c): the CRC against the standard check
 * value and against Python's zlib.crc32 as an independent oracle, encode and
 * decode, and which slot a reader takes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"
#include "testutil.h"

/*
 * zlib.crc32 of n buffers in one python3 run (hex-encoded arguments, one
 * decimal CRC per output line).
 */
static void zlib_crc32s(const unsigned char *const *bufs, const size_t *lens, size_t n,
                        uint32_t *out)
{
        size_t total = 200, off;
        char *cmd, line[64];
        FILE *f;

        for (size_t i = 0; i < n; i++)
                total += 2 * lens[i] + 4;
        cmd = malloc(total);
        ck_assert_ptr_nonnull(cmd);
        off = (size_t)snprintf(cmd, total,
                               "python3 -c 'import zlib,sys\nfor a in sys.argv[1:]: "
                               "print(zlib.crc32(bytes.fromhex(a)))'");
        for (size_t i = 0; i < n; i++) {
                cmd[off++] = ' ';
                cmd[off++] = '\'';
                tu_hex(bufs[i], lens[i], cmd + off);
                off += 2 * lens[i];
                cmd[off++] = '\'';
        }
        cmd[off] = '\0';
        f = popen(cmd, "r");
        ck_assert_ptr_nonnull(f);
        for (size_t i = 0; i < n; i++) {
                unsigned long v = 0;

                ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
                ck_assert_int_eq(sscanf(line, "%lu", &v), 1);
                out[i] = (uint32_t)v;
        }
        ck_assert_int_eq(pclose(f), 0);
        free(cmd);
}

static uint32_t zlib_crc32(const unsigned char *p, size_t len)
{
        uint32_t v = 0;

        zlib_crc32s(&p, &len, 1, &v);
        return v;
}

START_TEST(crc_check_value)
{
        ck_assert_uint_eq(slots_crc32(0, "123456789", 9), 0xCBF43926U);
        ck_assert_uint_eq(slots_crc32(0, "", 0), 0);
        /* incremental = one go */
        ck_assert_uint_eq(slots_crc32(slots_crc32(0, "1234", 4), "56789", 5), 0xCBF43926U);
}
END_TEST

START_TEST(crc_matches_zlib)
{
        static unsigned char buf[320], bytes[256]; /* room for the offsets below */
        const unsigned char *bufs[9 + 256];
        size_t lens[9 + 256], n = 0;
        uint32_t want[9 + 256];
        unsigned s = 12345;

        for (size_t i = 0; i < sizeof(buf); i++) {
                s = s * 1103515245U + 12345U;
                buf[i] = (unsigned char)(s >> 16);
        }
        for (size_t len = 0; n < 9; len += 37, n++) { /* lengths 0..296 at offsets 0..8 */
                bufs[n] = buf + n;
                lens[n] = len;
        }
        for (unsigned b = 0; b < 256; b++, n++) { /* every byte value: every table entry */
                bytes[b] = (unsigned char)b;
                bufs[n] = &bytes[b];
                lens[n] = 1;
        }
        zlib_crc32s(bufs, lens, n, want);
        for (size_t i = 0; i < n; i++)
                ck_assert_uint_eq(slots_crc32(0, bufs[i], lens[i]), want[i]);
}
END_TEST

START_TEST(encode_layout_and_decode)
{
        unsigned char slot[SLOTS_SLOT_SIZE];
        const unsigned char *payload;
        size_t len;
        uint64_t seq;
        static const char text[] = "version = 1\nend\n";

        ck_assert_int_eq(slots_encode(0x0102030405060708ULL, text, sizeof(text) - 1, slot), 0);
        ck_assert_mem_eq(slot, "MOTPSLOT", 8);
        ck_assert_mem_eq(slot + 8, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
        ck_assert_uint_eq(slot[16], sizeof(text) - 1);
        ck_assert_uint_eq(slot[17] | slot[18] | slot[19], 0);
        ck_assert_mem_eq(slot + 24, text, sizeof(text) - 1);
        for (size_t i = 24 + sizeof(text) - 1; i < SLOTS_SLOT_SIZE; i++)
                ck_assert_uint_eq(slot[i], 0);
        {
                /* the stored CRC is zlib's over bytes 0..19 and the payload */
                unsigned char covered[20 + sizeof(text) - 1];
                uint32_t want;

                memcpy(covered, slot, 20);
                memcpy(covered + 20, text, sizeof(text) - 1);
                want = zlib_crc32(covered, sizeof(covered));
                ck_assert_uint_eq((uint32_t)slot[20] | (uint32_t)slot[21] << 8 |
                                      (uint32_t)slot[22] << 16 | (uint32_t)slot[23] << 24,
                                  want);
        }
        ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 1);
        ck_assert_uint_eq(seq, 0x0102030405060708ULL);
        ck_assert_uint_eq(len, sizeof(text) - 1);
        ck_assert_ptr_eq(payload, slot + 24);
}
END_TEST

START_TEST(encode_bounds)
{
        unsigned char slot[SLOTS_SLOT_SIZE];
        char big[SLOTS_PAYLOAD_MAX + 1];

        memset(big, 'x', sizeof(big));
        ck_assert_int_eq(slots_encode(0, "x", 1, slot), -1);
        ck_assert_int_eq(slots_encode(1, "x", 0, slot), -1);
        ck_assert_int_eq(slots_encode(1, big, SLOTS_PAYLOAD_MAX + 1, slot), -1);
        ck_assert_int_eq(slots_encode(1, big, SLOTS_PAYLOAD_MAX, slot), 0);
        ck_assert_int_eq(slots_encode(UINT64_MAX, "x", 1, slot), 0);
}
END_TEST

/* Every single-bit change of the header or the payload is detected. */
START_TEST(decode_detects_every_bit_flip)
{
        unsigned char slot[SLOTS_SLOT_SIZE];
        const unsigned char *payload;
        size_t len;
        uint64_t seq;
        static const char text[] = "last_step = 56666667\nfailures = 0\nend\n";
        size_t covered = SLOTS_SLOT_SIZE; /* header and payload by the CRC, the rest zero */

        ck_assert_int_eq(slots_encode(7, text, sizeof(text) - 1, slot), 0);
        for (size_t i = 0; i < covered; i++) {
                for (int b = 0; b < 8; b++) {
                        slot[i] ^= (unsigned char)(1U << b);
                        ck_assert_msg(slots_decode(slot, &seq, &payload, &len) == 0,
                                      "bit %d of byte %zu", b, i);
                        slot[i] ^= (unsigned char)(1U << b);
                }
        }
        ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 1);
}
END_TEST

START_TEST(decode_refuses_bad_lengths)
{
        unsigned char slot[SLOTS_SLOT_SIZE];
        const unsigned char *payload;
        size_t len;
        uint64_t seq;

        memset(slot, 0, sizeof(slot));
        ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 0); /* all zero */
        ck_assert_int_eq(slots_encode(1, "x", 1, slot), 0);
        /* a length beyond the slot, with a CRC that would match if it were read */
        slot[16] = 0xFF;
        slot[17] = 0xFF;
        ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 0);
}
END_TEST

static void image_with(unsigned char *image, uint64_t s0, uint64_t s1)
{
        memset(image, 0, SLOTS_FILE_SIZE);
        if (s0 != 0)
                ck_assert_int_eq(slots_encode(s0, "zero", 4, image), 0);
        if (s1 != 0)
                ck_assert_int_eq(slots_encode(s1, "one", 3, image + SLOTS_SLOT_SIZE), 0);
}

START_TEST(pick_rules)
{
        unsigned char *image = malloc(SLOTS_FILE_SIZE);
        const unsigned char *payload;
        size_t len;
        uint64_t seq;

        ck_assert_ptr_nonnull(image);
        image_with(image, 1, 0);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), 0);
        ck_assert_uint_eq(seq, 1);
        ck_assert_mem_eq(payload, "zero", 4);
        image_with(image, 1, 2);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), 1);
        ck_assert_uint_eq(len, 3);
        image_with(image, 3, 2);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), 0);
        ck_assert_uint_eq(seq, 3);
        image_with(image, 0, 9);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), 1);
        /* the newest torn: the older */
        image_with(image, 3, 4);
        image[SLOTS_SLOT_SIZE + 25] ^= 1;
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), 0);
        ck_assert_uint_eq(seq, 3);
        /* none, the same number twice, a wrong size */
        image_with(image, 0, 0);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), -1);
        image_with(image, 5, 5);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len), -1);
        image_with(image, 1, 2);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE - 1, &seq, &payload, &len), -1);
        ck_assert_int_eq(slots_pick(image, 0, &seq, &payload, &len), -1);
        free(image);
}
END_TEST

/* ---- the extension (0.3.2) ------------------------------------------------------------ */

static uint32_t le32(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * The extension's CRC as slots.h documents it, from zlib: the slot's
 * sequence number (its bytes 8..15), the extension's bytes 0..11, then
 * datalen bytes of data (read from wherever they are, even past the slot).
 */
static uint32_t ext_crc_oracle(const unsigned char *slot, const unsigned char *x, size_t datalen)
{
        unsigned char *covered = malloc(8 + 12 + datalen + 1);
        uint32_t crc;

        ck_assert_ptr_nonnull(covered);
        memcpy(covered, slot + 8, 8);
        memcpy(covered + 8, x, 12);
        memcpy(covered + 20, x + SLOTS_EXT_HEADER, datalen);
        crc = zlib_crc32(covered, 20 + datalen);
        free(covered);
        return crc;
}

static const char ext_payload[] = "version = 1\nstatus = enabled\nend\nversion = 1\nend\n";
static const char ext_data[] = "# pam_mailotp last logins\nversion = 2\nkeep = 20\n"
                               "login = 1700000000 success code imap 192.0.2.1 -\n";
#define EXT_PLEN (sizeof(ext_payload) - 1)
#define EXT_DLEN (sizeof(ext_data) - 1)

START_TEST(ext_layout_and_round_trip)
{
        unsigned char slot[SLOTS_SLOT_SIZE], plain[SLOTS_SLOT_SIZE];
        const unsigned char *payload, *ext, *x = slot + SLOTS_HEADER_SIZE + EXT_PLEN;
        size_t len, extlen;
        uint64_t seq;

        ck_assert_int_eq(slots_encode_ext(0x0102030405060708ULL, ext_payload, EXT_PLEN, ext_data,
                                          EXT_DLEN, slot),
                         0);
        /* header and payload exactly as without an extension: the old format */
        ck_assert_int_eq(slots_encode(0x0102030405060708ULL, ext_payload, EXT_PLEN, plain), 0);
        ck_assert_mem_eq(slot, plain, SLOTS_HEADER_SIZE + EXT_PLEN);
        /* the extension right after the payload, then zero bytes */
        ck_assert_mem_eq(x, "MOTPEXT1", 8);
        ck_assert_uint_eq(le32(x + 8), EXT_DLEN);
        ck_assert_mem_eq(x + 16, ext_data, EXT_DLEN);
        ck_assert_uint_eq(le32(x + 12), ext_crc_oracle(slot, x, EXT_DLEN));
        for (size_t i = SLOTS_HEADER_SIZE + EXT_PLEN + 16 + EXT_DLEN; i < SLOTS_SLOT_SIZE; i++)
                ck_assert_msg(slot[i] == 0, "byte %zu", i);
        {
                /* the slot's CRC, by the old rule: zlib's over bytes 0..19 and the payload only */
                unsigned char covered[20 + EXT_PLEN];

                memcpy(covered, slot, 20);
                memcpy(covered + 20, ext_payload, EXT_PLEN);
                ck_assert_uint_eq(le32(slot + 20), zlib_crc32(covered, sizeof(covered)));
        }
        /* decoded: the payload alone, and the extension */
        ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 1);
        ck_assert_uint_eq(seq, 0x0102030405060708ULL);
        ck_assert_uint_eq(len, EXT_PLEN);
        ck_assert_ptr_eq(payload, slot + SLOTS_HEADER_SIZE);
        ck_assert_int_eq(slots_ext(slot, len, &ext, &extlen), 1);
        ck_assert_ptr_eq(ext, x + 16);
        ck_assert_uint_eq(extlen, EXT_DLEN);
        ck_assert_mem_eq(ext, ext_data, EXT_DLEN);
}
END_TEST

/* slots_encode is slots_encode_ext without one; a slot without one has none. */
START_TEST(ext_none)
{
        unsigned char a[SLOTS_SLOT_SIZE], b[SLOTS_SLOT_SIZE];
        const unsigned char *ext = a;
        size_t extlen = 99;

        memset(a, 0xA5, sizeof(a));
        memset(b, 0x5A, sizeof(b));
        ck_assert_int_eq(slots_encode(7, ext_payload, EXT_PLEN, a), 0);
        ck_assert_int_eq(slots_encode_ext(7, ext_payload, EXT_PLEN, NULL, 0, b), 0);
        ck_assert_mem_eq(a, b, SLOTS_SLOT_SIZE);
        /* a non-NULL ext with length 0 is none as well */
        ck_assert_int_eq(slots_encode_ext(7, ext_payload, EXT_PLEN, ext_data, 0, b), 0);
        ck_assert_mem_eq(a, b, SLOTS_SLOT_SIZE);
        ck_assert_int_eq(slots_ext(a, EXT_PLEN, &ext, &extlen), 0);
        ck_assert_ptr_null(ext);
        ck_assert_uint_eq(extlen, 0);
}
END_TEST

START_TEST(ext_room_limits)
{
        static unsigned char slot[SLOTS_SLOT_SIZE], big[SLOTS_SLOT_SIZE];
        const unsigned char *payload, *ext;
        size_t len, extlen, room;
        uint64_t seq;

        memset(big, 'x', sizeof(big));
        ck_assert_uint_eq(slots_ext_room(1), SLOTS_SLOT_SIZE - SLOTS_HEADER_SIZE - 1 - 16);
        ck_assert_uint_eq(slots_ext_room(SLOTS_PAYLOAD_MAX - 17), 1);
        ck_assert_uint_eq(slots_ext_room(SLOTS_PAYLOAD_MAX - 16), 0);
        ck_assert_uint_eq(slots_ext_room(SLOTS_PAYLOAD_MAX - 15), 0);
        ck_assert_uint_eq(slots_ext_room(SLOTS_PAYLOAD_MAX), 0);
        ck_assert_uint_eq(slots_ext_room(SIZE_MAX), 0);
        for (size_t plen = 1; plen <= SLOTS_PAYLOAD_MAX - 17; plen += 331) {
                room = slots_ext_room(plen);
                ck_assert_uint_eq(SLOTS_HEADER_SIZE + plen + SLOTS_EXT_HEADER + room,
                                  SLOTS_SLOT_SIZE);
                /* exactly fitting: its last byte is the slot's last */
                big[room - 1] = 'z';
                ck_assert_int_eq(slots_encode_ext(3, big, plen, big, room, slot), 0);
                ck_assert_uint_eq(slot[SLOTS_SLOT_SIZE - 1], 'z');
                ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 1);
                ck_assert_uint_eq(len, plen);
                ck_assert_int_eq(slots_ext(slot, len, &ext, &extlen), 1);
                ck_assert_uint_eq(extlen, room);
                ck_assert_ptr_eq(ext + extlen, slot + SLOTS_SLOT_SIZE);
                big[room - 1] = 'x';
                /* one byte over */
                ck_assert_int_eq(slots_encode_ext(3, big, plen, big, room + 1, slot), -1);
        }
        /* the longest payload with an extension: one byte of data, ending the slot */
        ck_assert_int_eq(slots_encode_ext(3, big, SLOTS_PAYLOAD_MAX - 17, "z", 1, slot), 0);
        ck_assert_int_eq(slots_ext(slot, SLOTS_PAYLOAD_MAX - 17, &ext, &extlen), 1);
        ck_assert_uint_eq(extlen, 1);
        ck_assert_ptr_eq(ext, slot + SLOTS_SLOT_SIZE - 1);
        ck_assert_uint_eq(*ext, 'z');
        ck_assert_int_eq(slots_encode_ext(3, big, SLOTS_PAYLOAD_MAX - 17, "zz", 2, slot), -1);
        /* one byte longer: no room for a single byte */
        ck_assert_int_eq(slots_encode_ext(3, big, SLOTS_PAYLOAD_MAX - 16, "x", 1, slot), -1);
        ck_assert_int_eq(slots_encode_ext(3, big, SLOTS_PAYLOAD_MAX, "x", 1, slot), -1);
        ck_assert_int_eq(slots_encode_ext(3, big, SLOTS_PAYLOAD_MAX, NULL, 0, slot), 0);
        ck_assert_int_eq(slots_ext(slot, SLOTS_PAYLOAD_MAX, &ext, &extlen), 0);
        /* the other refusals of slots_encode, and data missing */
        ck_assert_int_eq(slots_encode_ext(0, "x", 1, "y", 1, slot), -1);
        ck_assert_int_eq(slots_encode_ext(1, "x", 0, "y", 1, slot), -1);
        ck_assert_int_eq(slots_encode_ext(1, big, SLOTS_PAYLOAD_MAX + 1, NULL, 0, slot), -1);
        ck_assert_int_eq(slots_encode_ext(1, "x", 1, NULL, 1, slot), -1);
}
END_TEST

/*
 * An extension header that a payload of len bytes leaves room for, with the
 * given length field and a CRC computed over that many data bytes (so only
 * the length rule can refuse it).  slot may be followed by more bytes.
 */
static void forge_ext(unsigned char *slot, size_t len, uint32_t datalen)
{
        unsigned char *x = slot + SLOTS_HEADER_SIZE + len;

        memcpy(x, SLOTS_EXT_MAGIC, 8);
        put_le32(x + 8, datalen);
        put_le32(x + 12, ext_crc_oracle(slot, x, datalen));
}

START_TEST(ext_refused_lengths)
{
        /* two slots, as in a file: slot 0's extension must never reach into slot 1 */
        unsigned char *image = calloc(1, SLOTS_FILE_SIZE);
        const unsigned char *payload, *ext;
        size_t len, extlen, plen = SLOTS_PAYLOAD_MAX - 16 - 40, room;
        uint64_t seq;

        ck_assert_ptr_nonnull(image);
        room = slots_ext_room(plen);
        ck_assert_uint_eq(room, 40);
        memset(image + SLOTS_SLOT_SIZE, 'q', SLOTS_SLOT_SIZE);
        ck_assert_int_eq(slots_encode(9, image + SLOTS_SLOT_SIZE, plen, image), 0);
        ck_assert_int_eq(slots_decode(image, &seq, &payload, &len), 1);
        /* the forgery is right: with an allowed length it is taken */
        forge_ext(image, plen, (uint32_t)room);
        ck_assert_int_eq(slots_ext(image, plen, &ext, &extlen), 1);
        ck_assert_uint_eq(extlen, room);
        /* length 0 */
        forge_ext(image, plen, 0);
        ck_assert_int_eq(slots_ext(image, plen, &ext, &extlen), 0);
        ck_assert_ptr_null(ext);
        ck_assert_uint_eq(extlen, 0);
        /* past the slot's end, by one byte and by far */
        forge_ext(image, plen, (uint32_t)room + 1);
        ck_assert_int_eq(slots_ext(image, plen, &ext, &extlen), 0);
        forge_ext(image, plen, (uint32_t)room + SLOTS_SLOT_SIZE - 100);
        ck_assert_int_eq(slots_ext(image, plen, &ext, &extlen), 0);
        put_le32(image + SLOTS_HEADER_SIZE + plen + 8, 0xFFFFFFFFU);
        ck_assert_int_eq(slots_ext(image, plen, &ext, &extlen), 0);
        /* bytes after the payload that are no valid extension: the slot is refused */
        ck_assert_int_eq(slots_decode(image, &seq, &payload, &len), 0);
        forge_ext(image, plen, (uint32_t)room);
        ck_assert_int_eq(slots_decode(image, &seq, &payload, &len), 1);
        ck_assert_uint_eq(len, plen);
        free(image);
}
END_TEST

/*
 * Every single-bit change of the extension is detected, and refuses the
 * whole slot (a reader takes the previous one, as for a torn write).
 */
START_TEST(ext_detects_every_bit_flip)
{
        unsigned char slot[SLOTS_SLOT_SIZE];
        const unsigned char *payload, *ext;
        size_t len, extlen, start = SLOTS_HEADER_SIZE + EXT_PLEN;
        uint64_t seq;

        ck_assert_int_eq(slots_encode_ext(5, ext_payload, EXT_PLEN, ext_data, EXT_DLEN, slot), 0);
        for (size_t i = start; i < start + SLOTS_EXT_HEADER + EXT_DLEN; i++) {
                for (int b = 0; b < 8; b++) {
                        slot[i] ^= (unsigned char)(1U << b);
                        ck_assert_msg(slots_ext(slot, EXT_PLEN, &ext, &extlen) == 0,
                                      "bit %d of byte %zu", b, i);
                        ck_assert_msg(slots_decode(slot, &seq, &payload, &len) == 0,
                                      "slot taken: bit %d of byte %zu", b, i);
                        slot[i] ^= (unsigned char)(1U << b);
                }
        }
        ck_assert_int_eq(slots_ext(slot, EXT_PLEN, &ext, &extlen), 1);
        ck_assert_int_eq(slots_decode(slot, &seq, &payload, &len), 1);
        /* any non-zero byte after the extension (a write torn there): refused */
        for (size_t i = start + SLOTS_EXT_HEADER + EXT_DLEN; i < SLOTS_SLOT_SIZE; i += 97) {
                slot[i] = 1;
                ck_assert_msg(slots_decode(slot, &seq, &payload, &len) == 0, "byte %zu", i);
                slot[i] = 0;
        }
        /* read after another payload length: not there */
        ck_assert_int_eq(slots_ext(slot, EXT_PLEN - 1, &ext, &extlen), 0);
        ck_assert_int_eq(slots_ext(slot, EXT_PLEN + 1, &ext, &extlen), 0);
}
END_TEST

/*
 * Bound to the sequence number: an extension left from an earlier write of
 * the slot (or copied from the other slot) is not taken.
 */
START_TEST(ext_bound_to_sequence_number)
{
        unsigned char old[SLOTS_SLOT_SIZE], cur[SLOTS_SLOT_SIZE];
        const unsigned char *ext;
        size_t extlen, at = SLOTS_HEADER_SIZE + EXT_PLEN;
        uint64_t seqs[] = {4, 5, 1ULL << 32, UINT64_MAX};

        ck_assert_int_eq(slots_encode_ext(3, ext_payload, EXT_PLEN, ext_data, EXT_DLEN, old), 0);
        for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
                ck_assert_int_eq(slots_encode(seqs[i], ext_payload, EXT_PLEN, cur), 0);
                memcpy(cur + at, old + at, SLOTS_EXT_HEADER + EXT_DLEN);
                ck_assert_msg(slots_ext(cur, EXT_PLEN, &ext, &extlen) == 0, "seq %llu",
                              (unsigned long long)seqs[i]);
        }
        /* the same bytes under the same number: taken (the copy itself is right) */
        ck_assert_int_eq(slots_encode(3, ext_payload, EXT_PLEN, cur), 0);
        memcpy(cur + at, old + at, SLOTS_EXT_HEADER + EXT_DLEN);
        ck_assert_int_eq(slots_ext(cur, EXT_PLEN, &ext, &extlen), 1);
        ck_assert_mem_eq(cur, old, SLOTS_SLOT_SIZE);
}
END_TEST

/* slots_pick takes the newest slot; its extension is that slot's, not the other's. */
START_TEST(ext_of_picked_slot)
{
        unsigned char *image = calloc(1, SLOTS_FILE_SIZE);
        const unsigned char *payload, *ext;
        size_t len, extlen;
        uint64_t seq;
        int idx;

        ck_assert_ptr_nonnull(image);
        ck_assert_int_eq(slots_encode_ext(6, "zero", 4, "old", 3, image), 0);
        ck_assert_int_eq(slots_encode_ext(7, "one", 3, "new", 3, image + SLOTS_SLOT_SIZE), 0);
        idx = slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len);
        ck_assert_int_eq(idx, 1);
        ck_assert_int_eq(slots_ext(image + SLOTS_SLOT_SIZE, len, &ext, &extlen), 1);
        ck_assert_uint_eq(extlen, 3);
        ck_assert_mem_eq(ext, "new", 3);
        /* the newest without one: none, though the older slot has one */
        ck_assert_int_eq(slots_encode(8, "zero", 4, image), 0);
        idx = slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &len);
        ck_assert_int_eq(idx, 0);
        ck_assert_int_eq(slots_ext(image, len, &ext, &extlen), 0);
        free(image);
}
END_TEST

static Suite *slots_suite(void)
{
        Suite *s = suite_create("slots");
        TCase *tc = tcase_create("slots");

        tcase_set_timeout(tc, 60); /* python3 as the CRC oracle on a busy machine */

        tcase_add_test(tc, crc_check_value);
        tcase_add_test(tc, crc_matches_zlib);
        tcase_add_test(tc, encode_layout_and_decode);
        tcase_add_test(tc, encode_bounds);
        tcase_add_test(tc, decode_detects_every_bit_flip);
        tcase_add_test(tc, decode_refuses_bad_lengths);
        tcase_add_test(tc, pick_rules);
        tcase_add_test(tc, ext_layout_and_round_trip);
        tcase_add_test(tc, ext_none);
        tcase_add_test(tc, ext_room_limits);
        tcase_add_test(tc, ext_refused_lengths);
        tcase_add_test(tc, ext_detects_every_bit_flip);
        tcase_add_test(tc, ext_bound_to_sequence_number);
        tcase_add_test(tc, ext_of_picked_slot);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(slots_suite());
}
