/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Two-slot files: small data rewritten in place, durably, with one device
 * flush and no metadata change (the per-user state, written at every login).
 *
 * A slot file is exactly SLOTS_FILE_SIZE bytes: two slots of SLOTS_SLOT_SIZE
 * bytes, each in its own file-system block, so writing one never touches the
 * other.  A slot is
 *
 *     offset 0   8 bytes  magic "MOTPSLOT"
 *            8   8 bytes  sequence number, little-endian, >= 1
 *           16   4 bytes  payload length, little-endian, 1..SLOTS_PAYLOAD_MAX
 *           20   4 bytes  CRC-32 (IEEE 802.3, as zlib's crc32) of bytes 0..19
 *                         followed by the payload
 *           24   payload  (the state's text format), then zero bytes
 *
 * A writer overwrites the older slot with the next sequence number and
 * flushes it; a reader takes the valid slot with the higher number.  A write
 * torn by a crash fails its CRC and the reader gets the previous version, as
 * with a rename that did not happen.  Pure functions: the I/O is in fileio.c.
 */
#ifndef MAILOTP_SLOTS_H
#define MAILOTP_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define SLOTS_SLOT_SIZE   4096U
#define SLOTS_FILE_SIZE   (2U * SLOTS_SLOT_SIZE)
#define SLOTS_HEADER_SIZE 24U
#define SLOTS_PAYLOAD_MAX (SLOTS_SLOT_SIZE - SLOTS_HEADER_SIZE)
#define SLOTS_MAGIC       "MOTPSLOT"

/* CRC-32 (reflected, polynomial 0xEDB88320, initial and final xor 0xFFFFFFFF). */
uint32_t slots_crc32(uint32_t crc, const void *data, size_t len);

/*
 * Fill out[0..SLOTS_SLOT_SIZE) with one slot.  Returns 0, or -1 when seq is 0
 * or the payload is empty or longer than SLOTS_PAYLOAD_MAX.
 */
int slots_encode(uint64_t seq, const void *payload, size_t len, unsigned char *out);

/*
 * Check one slot (SLOTS_SLOT_SIZE bytes).  Returns 1 and its sequence
 * number, payload and payload length when it is valid, 0 when not.
 */
int slots_decode(const unsigned char *slot, uint64_t *seq, const unsigned char **payload,
                 size_t *len);

/*
 * The current slot of a file image: returns its index (0 or 1) and sets
 * seq/payload/len, or -1 when the image is not SLOTS_FILE_SIZE bytes, when
 * neither slot is valid, or when both carry the same sequence number (never
 * written that way: a tampered file).
 */
int slots_pick(const unsigned char *image, size_t size, uint64_t *seq,
               const unsigned char **payload, size_t *len);

#endif
