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
        size_t covered = 24 + sizeof(text) - 1;

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
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(slots_suite());
}
