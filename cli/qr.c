/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "qr.h"

#include <qrencode.h>

#define QUIET 2

/* 1 when the module at (x, y) is dark; the quiet zone is light. */
static int dark(const QRcode *qr, int x, int y)
{
        if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
                return 0;
        return qr->data[y * qr->width + x] & 1;
}

int qr_print_utf8(FILE *out, const char *text)
{
        QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        int x, y;

        if (qr == NULL)
                return -1;
        for (y = -QUIET; y < qr->width + QUIET; y += 2) {
                for (x = -QUIET; x < qr->width + QUIET; x++) {
                        int top = !dark(qr, x, y), bottom = !dark(qr, x, y + 1);

                        if (top && bottom)
                                fputs("\u2588", out);
                        else if (top)
                                fputs("\u2580", out);
                        else if (bottom)
                                fputs("\u2584", out);
                        else
                                fputc(' ', out);
                }
                fputc('\n', out);
        }
        QRcode_free(qr);
        return 0;
}
