/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "username.h"

#include <stdio.h>
#include <string.h>

int text_utf8_valid(const unsigned char *s, size_t len)
{
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                size_t need, k;
                unsigned long cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if (c >= 0xC2 && c <= 0xDF) {
                        need = 1;
                        cp = c & 0x1FU;
                } else if (c >= 0xE0 && c <= 0xEF) {
                        need = 2;
                        cp = c & 0x0FU;
                } else if (c >= 0xF0 && c <= 0xF4) {
                        need = 3;
                        cp = c & 0x07U;
                } else {
                        return 0; /* continuation byte, C0/C1 overlong lead, > F4 */
                }
                if (len - i <= need)
                        return 0;
                for (k = 1; k <= need; k++) {
                        if ((s[i + k] & 0xC0U) != 0x80U)
                                return 0;
                        cp = (cp << 6) | (s[i + k] & 0x3FU);
                }
                if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
                    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                        return 0;
                i += need + 1;
        }
        return 1;
}

enum mailotp_rc username_to_key(const char *user, char *key, size_t keysz, char *err, size_t errlen)
{
        size_t len, i;

        if (key != NULL && keysz > 0)
                key[0] = '\0';
        if (user == NULL || key == NULL || keysz < USERNAME_MAX + 1) {
                mailotp_seterr(err, errlen, "no username");
                return MAILOTP_ERR_INVALID;
        }
        len = strnlen(user, USERNAME_MAX + 1);
        if (len == 0) {
                mailotp_seterr(err, errlen, "empty username");
                return MAILOTP_ERR_INVALID;
        }
        if (len > USERNAME_MAX) {
                mailotp_seterr(err, errlen, "username longer than %u bytes", USERNAME_MAX);
                return MAILOTP_ERR_INVALID;
        }
        if (user[0] == '.') {
                mailotp_seterr(err, errlen, "username starts with '.'");
                return MAILOTP_ERR_INVALID;
        }
        for (i = 0; i < len; i++) {
                unsigned char c = (unsigned char)user[i];

                if (c <= 0x20 || c == 0x7F) {
                        mailotp_seterr(err, errlen, "username contains a control byte or space");
                        return MAILOTP_ERR_INVALID;
                }
                if (c == '/' || c == '\\') {
                        mailotp_seterr(err, errlen, "username contains a path separator");
                        return MAILOTP_ERR_INVALID;
                }
        }
        if (!text_utf8_valid((const unsigned char *)user, len)) {
                mailotp_seterr(err, errlen, "username is not valid UTF-8");
                return MAILOTP_ERR_INVALID;
        }
        for (i = 0; i < len; i++) {
                char c = user[i];

                key[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        key[len] = '\0';
        return MAILOTP_OK;
}

/* Escaped form of byte c into tmp (5 bytes); returns its length. */
static size_t escape_one(unsigned char c, int keep_space, char tmp[5])
{
        if (((c >= 0x21 && c < 0x7F) || (keep_space && c == ' ')) && c != '"' && c != '\\') {
                tmp[0] = (char)c;
                tmp[1] = '\0';
                return 1;
        }
        (void)snprintf(tmp, 5, "\\x%02x", c);
        return 4;
}

static void escape(const char *in, char *out, size_t outsz, int keep_space)
{
        size_t total = 0, o = 0, limit, n;
        const char *p;
        char tmp[5];

        if (out == NULL || outsz == 0)
                return;
        if (in == NULL)
                in = "(none)";
        for (p = in; *p != '\0'; p++)
                total += escape_one((unsigned char)*p, keep_space, tmp);
        /* All of it when it fits; otherwise as much as leaves room for "...". */
        limit = total + 1 <= outsz ? total : (outsz > 4 ? outsz - 4 : 0);
        for (p = in; *p != '\0'; p++) {
                n = escape_one((unsigned char)*p, keep_space, tmp);
                if (o + n > limit)
                        break;
                memcpy(out + o, tmp, n);
                o += n;
        }
        if (total + 1 > outsz) {
                n = outsz - 1 - o < 3 ? outsz - 1 - o : 3;
                memcpy(out + o, "...", n);
                o += n;
        }
        out[o] = '\0';
}

void text_log_escape(const char *in, char *out, size_t outsz)
{
        escape(in, out, outsz, 0);
}

void text_log_escape_text(const char *in, char *out, size_t outsz)
{
        escape(in, out, outsz, 1);
}
