/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the configuration file parser and option checks, and usernames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "username.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mailotp_opts o;
        char err[256], key[USERNAME_MAX + 1], esc[64], *str;

        opts_init(&o);
        if (opts_apply_file(&o, (const char *)data, size, err, sizeof(err)) == MAILOTP_OK) {
                (void)opts_check(&o, err, sizeof(err));
                if (o.window > 10 || o.digits < 6 || o.digits > 8 || o.dir[0] != '/')
                        abort();
        }
        /* The same bytes as a username from the network. */
        str = malloc(size + 1);
        if (str == NULL)
                return 0;
        memcpy(str, data, size);
        str[size] = '\0';
        if (username_to_key(str, key, sizeof(key), err, sizeof(err)) == MAILOTP_OK) {
                if (key[0] == '.' || key[0] == '\0' || strchr(key, '/') != NULL ||
                    strlen(key) != strlen(str))
                        abort();
        }
        text_log_escape(str, esc, sizeof(esc));
        if (strlen(esc) >= sizeof(esc))
                abort();
        text_log_escape_text(str, esc, sizeof(esc));
        free(str);
        return 0;
}
