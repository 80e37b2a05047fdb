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
 * and optionally, right after the payload (0.3.2), an extension:
 *
 *     offset 0   8 bytes  magic "MOTPEXT1"
 *            8   4 bytes  data length, little-endian, >= 1
 *           12   4 bytes  CRC-32 of the slot's sequence number (its bytes
 *                         8..15), of bytes 0..11 here, then of the data
 *           16   data
 *
 * The slot's CRC does not cover the extension, so readers of 0.3.0 and
 * 0.3.1 take such a slot as before and ignore it (their writes drop it).
 * Its own CRC binds it to the slot's sequence number: bytes left over from
 * an earlier write of the same slot are never taken for the current
 * extension.  Every writer zeroes the rest of the slot, so a slot is valid
 * only when the bytes after its payload are zero, or a valid extension
 * followed by zeros: a write torn after the payload (a power cut between two
 * sectors), or damage there, makes the slot invalid like a bad CRC, and the
 * reader takes the previous version with its pending entries.
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
#define SLOTS_EXT_MAGIC   "MOTPEXT1"
#define SLOTS_EXT_HEADER  16U

/* CRC-32 (reflected, polynomial 0xEDB88320, initial and final xor 0xFFFFFFFF). */
uint32_t slots_crc32(uint32_t crc, const void *data, size_t len);

/*
 * Fill out[0..SLOTS_SLOT_SIZE) with one slot.  Returns 0, or -1 when seq is 0
 * or the payload is empty or longer than SLOTS_PAYLOAD_MAX.
 */
int slots_encode(uint64_t seq, const void *payload, size_t len, unsigned char *out);

/*
 * As slots_encode, with an extension ext[0..extlen) after the payload
 * (extlen 0: none).  -1 also when payload and extension do not fit the slot
 * together: SLOTS_HEADER_SIZE + len + SLOTS_EXT_HEADER + extlen > SLOTS_SLOT_SIZE.
 */
int slots_encode_ext(uint64_t seq, const void *payload, size_t len, const void *ext, size_t extlen,
                     unsigned char *out);

/* Room for an extension's data after a payload of len bytes (0 when none fits). */
size_t slots_ext_room(size_t len);

/*
 * The extension of a slot that slots_decode() found valid with a payload of
 * len bytes: 1 with its data, 0 when it has none or a damaged one.
 */
int slots_ext(const unsigned char *slot, size_t len, const unsigned char **ext, size_t *extlen);

/*
 * Check one slot (SLOTS_SLOT_SIZE bytes): magic, CRC, and after the payload
 * zeros or a valid extension then zeros.  Returns 1 and its sequence number,
 * payload and payload length when it is valid, 0 when not.
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
