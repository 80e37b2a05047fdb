/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef MAILOTP_QR_H
#define MAILOTP_QR_H

#include <stddef.h>
#include <stdio.h>

/*
 * QR codes for enrollment URIs.  Every format encodes `text` with error
 * correction M in 8-bit mode.  The output contains the TOTP secret: callers
 * create image files 0600 (O_EXCL|O_NOFOLLOW) and zero memory buffers before
 * freeing them.
 */
enum qr_format { QR_FORMAT_TERMINAL, QR_FORMAT_SVG, QR_FORMAT_PNG };

/*
 * Parse a format name: "terminal", "svg" or "png" (exact, lower case).
 * Returns 0 and sets *fmt, or -1 for any other name (*fmt is left alone).
 */
int qr_format_parse(const char *name, enum qr_format *fmt);

/*
 * Render `text` in `fmt` to `out`, then fflush it.
 *   terminal  UTF-8 half blocks, exactly as qr_print_utf8.
 *   svg       a standalone SVG 1.1 document: a white background rect and one
 *             black <path> of unit squares in a viewBox with a 4-module quiet
 *             zone, shape-rendering="crispEdges", width/height at 8 px per
 *             module.
 *   png       a 1-bit grayscale PNG (libpng), 8 px per module, 4-module quiet
 *             zone, black on white.
 * Returns 0, or -1 when the text cannot be encoded, `fmt` is not a known
 * format, libpng fails or a write (or the final fflush) fails; on -1 part of
 * the output may already have been written.  Never aborts or exits.
 */
int qr_render(FILE *out, const char *text, enum qr_format fmt);

/*
 * As qr_render, into a newly malloc'd buffer: on 0, *buf holds *len bytes of
 * output followed by one NUL that *len does not count (so SVG and terminal
 * output are also C strings); the caller owns *buf and should free it with
 * secure_freezero(*buf, *len + 1).  On -1, *buf is NULL and *len is 0.
 */
int qr_render_mem(const char *text, enum qr_format fmt, unsigned char **buf, size_t *len);

/*
 * Print `text` as a QR code (error correction M) to `out` with Unicode half
 * blocks, two module rows per line, light modules drawn as blocks and a
 * two-module quiet zone, as `qrencode -t UTF8` does.  Returns 0, or -1 when
 * libqrencode cannot encode the text or a write to `out` fails.
 */
int qr_print_utf8(FILE *out, const char *text);

#endif
