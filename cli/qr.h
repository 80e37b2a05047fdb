/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef MAILOTP_QR_H
#define MAILOTP_QR_H

#include <stdio.h>

/*
 * Print `text` as a QR code (error correction M) to `out` with Unicode half
 * blocks, two module rows per line, light modules drawn as blocks and a
 * two-module quiet zone, as `qrencode -t UTF8` does.  Returns 0, or -1 when
 * libqrencode cannot encode the text.
 */
int qr_print_utf8(FILE *out, const char *text);

#endif
