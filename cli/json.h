/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small streaming JSON writer for the CLI's --json output (RFC 8259):
 * objects, arrays, strings (escaped; invalid UTF-8 replaced by U+FFFD),
 * integers, booleans and null.  Commas are placed automatically.
 */
#ifndef MAILOTP_JSON_H
#define MAILOTP_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 8

struct json {
        FILE *out;
        int depth;
        int count[JSON_MAX_DEPTH]; /* values written at each level */
        int after_key;
};

void json_init(struct json *j, FILE *out);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
/* Object member name; the next value call writes its value. */
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);
/* A Unix time as "YYYY-MM-DDTHH:MM:SSZ", or null for t <= 0. */
void json_time(struct json *j, int64_t t);
/* Finish the document with a newline. */
void json_end(struct json *j);

#endif
