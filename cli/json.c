/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json.h"

#include <string.h>
#include <time.h>

#include "username.h"

void json_init(struct json *j, FILE *out)
{
        memset(j, 0, sizeof(*j));
        j->out = out;
}

/* Comma before every value but the first at its level (and not after a key). */
static void sep(struct json *j)
{
        if (j->after_key) {
                j->after_key = 0;
                return;
        }
        if (j->count[j->depth]++ > 0)
                fputc(',', j->out);
}

static void open(struct json *j, char c)
{
        sep(j);
        fputc(c, j->out);
        if (j->depth < JSON_MAX_DEPTH - 1)
                j->depth++;
        j->count[j->depth] = 0;
}

static void close_(struct json *j, char c)
{
        fputc(c, j->out);
        if (j->depth > 0)
                j->depth--;
}

void json_obj_begin(struct json *j)
{
        open(j, '{');
}

void json_obj_end(struct json *j)
{
        close_(j, '}');
}

void json_arr_begin(struct json *j)
{
        open(j, '[');
}

void json_arr_end(struct json *j)
{
        close_(j, ']');
}

static void put_string(FILE *out, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        fputc('"', out);
        while (*p != '\0') {
                unsigned char c = *p;

                if (c == '"' || c == '\\') {
                        fputc('\\', out);
                        fputc(c, out);
                        p++;
                } else if (c < 0x20 || c == 0x7F) {
                        fprintf(out, "\\u%04x", c);
                        p++;
                } else if (c < 0x80) {
                        fputc(c, out);
                        p++;
                } else {
                        /* Copy one well-formed UTF-8 sequence, or write U+FFFD for a bad byte. */
                        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;

                        if (strnlen((const char *)p, n) == n && text_utf8_valid(p, n)) {
                                fwrite(p, 1, n, out);
                                p += n;
                        } else {
                                fputs("\\ufffd", out);
                                p++;
                        }
                }
        }
        fputc('"', out);
}

void json_key(struct json *j, const char *key)
{
        sep(j);
        put_string(j->out, key);
        fputc(':', j->out);
        j->after_key = 1;
}

void json_str(struct json *j, const char *s)
{
        sep(j);
        if (s == NULL)
                fputs("null", j->out);
        else
                put_string(j->out, s);
}

void json_int(struct json *j, int64_t v)
{
        sep(j);
        fprintf(j->out, "%lld", (long long)v);
}

void json_bool(struct json *j, int v)
{
        sep(j);
        fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j)
{
        sep(j);
        fputs("null", j->out);
}

void json_time(struct json *j, int64_t t)
{
        char buf[32];
        time_t tt = (time_t)t;
        struct tm tm;

        if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
            strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
                json_null(j);
                return;
        }
        json_str(j, buf);
}

void json_end(struct json *j)
{
        fputc('\n', j->out);
        fflush(j->out);
}
