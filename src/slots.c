/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "slots.h"

#include <string.h>

uint32_t slots_crc32(uint32_t crc, const void *data, size_t len)
{
        const unsigned char *p = data;
        size_t i;
        int b;

        crc = ~crc;
        for (i = 0; i < len; i++) {
                crc ^= p[i];
                for (b = 0; b < 8; b++)
                        crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
        }
        return ~crc;
}

static void put_le(unsigned char *p, uint64_t v, unsigned n)
{
        unsigned i;

        for (i = 0; i < n; i++) {
                p[i] = (unsigned char)(v & 0xFFU);
                v >>= 8;
        }
}

static uint64_t get_le(const unsigned char *p, unsigned n)
{
        uint64_t v = 0;

        while (n-- > 0)
                v = (v << 8) | p[n];
        return v;
}

static uint32_t slot_crc(const unsigned char *slot, size_t len)
{
        uint32_t crc = slots_crc32(0, slot, 20);

        return slots_crc32(crc, slot + SLOTS_HEADER_SIZE, len);
}

int slots_encode(uint64_t seq, const void *payload, size_t len, unsigned char *out)
{
        if (seq == 0 || len == 0 || len > SLOTS_PAYLOAD_MAX)
                return -1;
        memset(out, 0, SLOTS_SLOT_SIZE);
        memcpy(out, SLOTS_MAGIC, 8);
        put_le(out + 8, seq, 8);
        put_le(out + 16, len, 4);
        memcpy(out + SLOTS_HEADER_SIZE, payload, len);
        put_le(out + 20, slot_crc(out, len), 4);
        return 0;
}

int slots_decode(const unsigned char *slot, uint64_t *seq, const unsigned char **payload,
                 size_t *len)
{
        uint64_t s = get_le(slot + 8, 8), l = get_le(slot + 16, 4);

        if (memcmp(slot, SLOTS_MAGIC, 8) != 0 || s == 0 || l == 0 || l > SLOTS_PAYLOAD_MAX ||
            get_le(slot + 20, 4) != slot_crc(slot, (size_t)l))
                return 0;
        *seq = s;
        *payload = slot + SLOTS_HEADER_SIZE;
        *len = (size_t)l;
        return 1;
}

int slots_pick(const unsigned char *image, size_t size, uint64_t *seq,
               const unsigned char **payload, size_t *len)
{
        uint64_t s[2] = {0, 0};
        const unsigned char *p[2] = {NULL, NULL};
        size_t l[2] = {0, 0};
        int ok[2], i;

        if (size != SLOTS_FILE_SIZE)
                return -1;
        for (i = 0; i < 2; i++)
                ok[i] = slots_decode(image + (size_t)i * SLOTS_SLOT_SIZE, &s[i], &p[i], &l[i]);
        if (ok[0] && ok[1] && s[0] == s[1])
                return -1;
        if (!ok[0] && !ok[1])
                return -1;
        i = (ok[0] && (!ok[1] || s[0] > s[1])) ? 0 : 1;
        *seq = s[i];
        *payload = p[i];
        *len = l[i];
        return i;
}
