/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "userfile.h"

#include <string.h>

int userfile_split(const char *p, size_t len, size_t *reclen)
{
        size_t line = 0, i;

        *reclen = 0;
        if (p == NULL || memchr(p, '\0', len) != NULL)
                return -1;
        for (i = 0; i < len; i++) {
                if (p[i] != '\n')
                        continue;
                if (i - line == 3 && memcmp(p + line, "end", 3) == 0) {
                        *reclen = i + 1;
                        return 0;
                }
                line = i + 1;
        }
        return -1;
}

enum mailotp_rc userfile_join(const char *rec, size_t rlen, const char *st, size_t slen, char *out,
                              size_t outmax, size_t *outlen)
{
        size_t reclen = 0;

        *outlen = 0;
        if (rlen == 0 || userfile_split(rec, rlen, &reclen) != 0 || reclen != rlen)
                return MAILOTP_ERR_INVALID;
        if (slen > 0 && (st == NULL || memchr(st, '\0', slen) != NULL))
                return MAILOTP_ERR_INVALID;
        if (rlen > outmax || slen > outmax - rlen)
                return MAILOTP_ERR_INVALID;
        memcpy(out, rec, rlen);
        if (slen > 0)
                memcpy(out + rlen, st, slen);
        *outlen = rlen + slen;
        return MAILOTP_OK;
}

int userfile_is_moved(const char *buf, size_t len)
{
        return len == sizeof(USERFILE_MOVED) - 1 && memcmp(buf, USERFILE_MOVED, len) == 0;
}
