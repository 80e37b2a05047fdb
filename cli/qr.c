/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "qr.h"

#include <png.h>
#include <qrencode.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secure.h"

#define TERM_QUIET 2 /* qrencode -t UTF8 uses two modules */
#define IMG_QUIET  4 /* the quiet zone ISO/IEC 18004 asks for */
#define IMG_SCALE  8 /* pixels per module in SVG width/height and PNG */
#define MEM_START  4096

/*
 * Where rendered bytes go: a stdio stream, or (file == NULL) a growing
 * buffer that always keeps room for one more byte, the final NUL.  The
 * first failure sticks; later writes are ignored.
 */
struct sink {
        FILE *file;
        unsigned char *buf;
        size_t len, cap;
        int failed;
};

/* Grow the buffer by hand rather than with realloc so no copy of the image
 * (which encodes the secret) is left unzeroed in freed memory. */
static int sink_grow(struct sink *s, size_t n)
{
        size_t cap = s->cap != 0 ? s->cap : MEM_START;
        unsigned char *nbuf;

        while (cap - s->len <= n) {
                if (cap > SIZE_MAX / 2)
                        return -1;
                cap *= 2;
        }
        nbuf = malloc(cap);
        if (nbuf == NULL)
                return -1;
        if (s->len != 0)
                memcpy(nbuf, s->buf, s->len);
        secure_freezero(s->buf, s->cap);
        s->buf = nbuf;
        s->cap = cap;
        return 0;
}

static void sink_write(struct sink *s, const void *p, size_t n)
{
        if (s->failed || n == 0)
                return;
        if (s->file != NULL) {
                if (fwrite(p, 1, n, s->file) != n)
                        s->failed = 1;
                return;
        }
        if (s->cap - s->len <= n && sink_grow(s, n) != 0) {
                s->failed = 1;
                return;
        }
        memcpy(s->buf + s->len, p, n);
        s->len += n;
}

static void sink_puts(struct sink *s, const char *str)
{
        sink_write(s, str, strlen(str));
}

/* Write a decimal int. */
static void sink_int(struct sink *s, int v)
{
        char tmp[16];
        int n = snprintf(tmp, sizeof(tmp), "%d", v);

        if (n < 0 || (size_t)n >= sizeof(tmp)) {
                s->failed = 1;
                return;
        }
        sink_write(s, tmp, (size_t)n);
}

/* 1 when the module at (x, y) is dark; the quiet zone is light. */
static int dark(const QRcode *qr, int x, int y)
{
        if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
                return 0;
        return qr->data[y * qr->width + x] & 1;
}

/* Two module rows per line; light modules are blocks, as qrencode -t UTF8
 * draws them, so the code reads on a dark terminal. */
static void render_terminal(struct sink *s, const QRcode *qr)
{
        int x, y;

        for (y = -TERM_QUIET; y < qr->width + TERM_QUIET; y += 2) {
                for (x = -TERM_QUIET; x < qr->width + TERM_QUIET; x++) {
                        int top = !dark(qr, x, y), bottom = !dark(qr, x, y + 1);

                        if (top && bottom)
                                sink_puts(s, "\u2588");
                        else if (top)
                                sink_puts(s, "\u2580");
                        else if (bottom)
                                sink_puts(s, "\u2584");
                        else
                                sink_puts(s, " ");
                }
                sink_puts(s, "\n");
        }
}

/* User units are modules; the quiet zone is part of the viewBox, so the
 * dark module (x, y) is the unit square at (x + IMG_QUIET, y + IMG_QUIET). */
static void render_svg(struct sink *s, const QRcode *qr)
{
        const int n = qr->width + 2 * IMG_QUIET;
        int x, y;

        sink_puts(s, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"");
        sink_int(s, n * IMG_SCALE);
        sink_puts(s, "\" height=\"");
        sink_int(s, n * IMG_SCALE);
        sink_puts(s, "\" viewBox=\"0 0 ");
        sink_int(s, n);
        sink_puts(s, " ");
        sink_int(s, n);
        sink_puts(s, "\" shape-rendering=\"crispEdges\">\n<rect x=\"0\" y=\"0\" width=\"");
        sink_int(s, n);
        sink_puts(s, "\" height=\"");
        sink_int(s, n);
        sink_puts(s, "\" fill=\"#ffffff\"/>\n");
        sink_puts(s, "<path fill=\"#000000\" d=\"");
        for (y = 0; y < qr->width; y++) {
                for (x = 0; x < qr->width; x++)
                        if (dark(qr, x, y)) {
                                sink_puts(s, "M");
                                sink_int(s, x + IMG_QUIET);
                                sink_puts(s, " ");
                                sink_int(s, y + IMG_QUIET);
                                sink_puts(s, "h1v1h-1z");
                        }
                if (y + 1 < qr->width)
                        sink_puts(s, "\n");
        }
        sink_puts(s, "\"/>\n</svg>\n");
}

/* libpng callbacks: every error, our own write failures included, unwinds
 * to the setjmp in qr_png_write; nothing is printed and nothing aborts. */
static void pngcb_write(png_structp png, png_bytep data, size_t n)
{
        struct sink *s = png_get_io_ptr(png);

        sink_write(s, data, n);
        if (s->failed)
                png_error(png, "write failed");
}

static void pngcb_flush(png_structp png)
{
        (void)png; /* qr_render flushes the stream once at the end */
}

static void pngcb_error(png_structp png, png_const_charp msg)
{
        (void)msg;
        png_longjmp(png, 1);
}

static void pngcb_warning(png_structp png, png_const_charp msg)
{
        (void)png;
        (void)msg;
}

/* At 1 bit per pixel and IMG_SCALE (8) pixels per module, one module is
 * exactly one byte of a row: 0x00 dark, 0xff light (grayscale 0 is black). */
static void qr_png_rows(png_structp png, const QRcode *qr, unsigned char *row)
{
        int x, y, i;

        for (y = -IMG_QUIET; y < qr->width + IMG_QUIET; y++) {
                for (x = -IMG_QUIET; x < qr->width + IMG_QUIET; x++)
                        row[x + IMG_QUIET] = dark(qr, x, y) ? 0x00 : 0xff;
                for (i = 0; i < IMG_SCALE; i++)
                        png_write_row(png, row);
        }
}

/* Everything between setjmp and its return lives in the callees, so no
 * local here changes after setjmp (no clobbering on longjmp). */
static int qr_png_write(png_structp png, png_infop info, struct sink *s, const QRcode *qr,
                        unsigned char *row, png_uint_32 px)
{
        if (setjmp(png_jmpbuf(png)))
                return -1;
        png_set_write_fn(png, s, pngcb_write, pngcb_flush);
        png_set_IHDR(png, info, px, px, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        qr_png_rows(png, qr, row);
        png_write_end(png, NULL);
        return 0;
}

static int render_png(struct sink *s, const QRcode *qr)
{
        const size_t modules = (size_t)qr->width + 2 * IMG_QUIET;
        unsigned char *row = malloc(modules);
        png_structp png = NULL;
        png_infop info = NULL;
        int rc = -1;

        if (row == NULL)
                return -1;
        png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, pngcb_error, pngcb_warning);
        if (png != NULL)
                info = png_create_info_struct(png);
        if (info != NULL)
                rc = qr_png_write(png, info, s, qr, row, (png_uint_32)(modules * IMG_SCALE));
        png_destroy_write_struct(&png, &info);
        secure_freezero(row, modules);
        return rc;
}

/* Encode, draw into the sink, free.  The module matrix encodes the secret,
 * so it is zeroed before libqrencode frees it. */
static int render(struct sink *s, const char *text, enum qr_format fmt)
{
        QRcode *qr;
        int rc = 0;

        if (text == NULL ||
            (fmt != QR_FORMAT_TERMINAL && fmt != QR_FORMAT_SVG && fmt != QR_FORMAT_PNG))
                return -1;
        /* The encoding the CLI has always used (and qrencode's default):
         * QR_MODE_8 hint, case-sensitive, so any byte string survives. */
        qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        if (qr == NULL)
                return -1;
        switch (fmt) {
        case QR_FORMAT_TERMINAL:
                render_terminal(s, qr);
                break;
        case QR_FORMAT_SVG:
                render_svg(s, qr);
                break;
        case QR_FORMAT_PNG:
                rc = render_png(s, qr);
                break;
        }
        secure_memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
        QRcode_free(qr);
        return rc == 0 && !s->failed ? 0 : -1;
}

int qr_format_parse(const char *name, enum qr_format *fmt)
{
        static const struct {
                const char *name;
                enum qr_format fmt;
        } names[] = {
            {"terminal", QR_FORMAT_TERMINAL},
            {"svg", QR_FORMAT_SVG},
            {"png", QR_FORMAT_PNG},
        };
        size_t i;

        if (name == NULL || fmt == NULL)
                return -1;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strcmp(name, names[i].name) == 0) {
                        *fmt = names[i].fmt;
                        return 0;
                }
        }
        return -1;
}

int qr_render(FILE *out, const char *text, enum qr_format fmt)
{
        struct sink s = {.file = out};

        if (out == NULL || render(&s, text, fmt) != 0)
                return -1;
        return fflush(out) == 0 ? 0 : -1;
}

int qr_render_mem(const char *text, enum qr_format fmt, unsigned char **buf, size_t *len)
{
        struct sink s = {.file = NULL};

        if (buf == NULL || len == NULL)
                return -1;
        *buf = NULL;
        *len = 0;
        if (render(&s, text, fmt) != 0 || s.buf == NULL) {
                secure_freezero(s.buf, s.cap);
                return -1;
        }
        s.buf[s.len] = '\0'; /* sink_write always leaves room for it */
        *buf = s.buf;
        *len = s.len;
        return 0;
}

int qr_print_utf8(FILE *out, const char *text)
{
        struct sink s = {.file = out};

        if (out == NULL)
                return -1;
        return render(&s, text, QR_FORMAT_TERMINAL);
}
