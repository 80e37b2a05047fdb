/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * apppw.c: application password names, service lists, the keyed hash, the
 * constant-cost lookup and the strict list format.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apppw.h"
#include "kv.h"
#include "testutil.h"

static char err[256];

static void fill_entry(struct apppw_entry *e, const char *name, unsigned seed)
{
        memset(e, 0, sizeof(*e));
        snprintf(e->name, sizeof(e->name), "%s", name);
        for (unsigned i = 0; i < MAC_LEN; i++)
                e->hash[i] = (unsigned char)(seed * 37U + i * 11U + 1U);
        e->created = 1700000000 + (int64_t)seed;
        e->expires = 0;
        memcpy(e->services, "*", 2);
        e->last_used = 0;
        memcpy(e->last_service, "-", 2);
        memcpy(e->last_rhost, "-", 2);
}

static int entry_equal(const struct apppw_entry *a, const struct apppw_entry *b)
{
        return strcmp(a->name, b->name) == 0 && memcmp(a->hash, b->hash, MAC_LEN) == 0 &&
               a->created == b->created && a->expires == b->expires &&
               strcmp(a->services, b->services) == 0 && a->last_used == b->last_used &&
               strcmp(a->last_service, b->last_service) == 0 &&
               strcmp(a->last_rhost, b->last_rhost) == 0;
}

static void assert_wiped(const struct apppw_list *l)
{
        const unsigned char *p = (const unsigned char *)l;
        size_t i = 0;

        while (i < sizeof(*l) && p[i] == 0)
                i++;
        ck_assert_msg(i == sizeof(*l), "list not wiped at byte %zu", i);
}

static enum mailotp_rc parse_str(const char *s, struct apppw_list *l)
{
        err[0] = '\0';
        return apppw_parse(s, strlen(s), l, err, sizeof(err));
}

/* ---- apppw_name_valid ------------------------------------------------------------ */

START_TEST(name_good)
{
        char n32[APPPW_NAME_MAX + 1];

        ck_assert_int_eq(apppw_name_valid("phone"), 1);
        ck_assert_int_eq(apppw_name_valid("a"), 1);
        ck_assert_int_eq(apppw_name_valid("Phone.2_work-x"), 1);
        ck_assert_int_eq(apppw_name_valid("0"), 1);
        ck_assert_int_eq(apppw_name_valid("_x"), 1);
        ck_assert_int_eq(apppw_name_valid(".x"), 1);
        ck_assert_int_eq(apppw_name_valid("x-"), 1);
        memset(n32, 'n', APPPW_NAME_MAX);
        n32[APPPW_NAME_MAX] = '\0';
        ck_assert_int_eq(apppw_name_valid(n32), 1);
}
END_TEST

START_TEST(name_bad)
{
        static const char *const bad[] = {"",     "-phone", "a b", "a/b",      "a:b", "a,b",
                                          "*",    "a\n",    "a\t", "\xc3\xa4", "a=b", "a\"b",
                                          "a\\b", "a@b",    "a+b", "a~b",      " a"};
        char n33[APPPW_NAME_MAX + 2];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(apppw_name_valid(bad[i]) == 0, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(apppw_name_valid(NULL), 0);
        memset(n33, 'n', APPPW_NAME_MAX + 1);
        n33[APPPW_NAME_MAX + 1] = '\0';
        ck_assert_int_eq(apppw_name_valid(n33), 0);
}
END_TEST

START_TEST(name_every_byte)
{
        char name[4] = "a?b";

        for (unsigned c = 1; c < 256; c++) {
                int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

                name[1] = (char)c;
                ck_assert_msg(apppw_name_valid(name) == want, "byte 0x%02x", c);
        }
}
END_TEST

/* ---- apppw_services_parse ------------------------------------------------------------ */

static int svc(const char *in, char *out, size_t outsz)
{
        err[0] = '\0';
        return apppw_services_parse(in, out, outsz, err, sizeof(err));
}

START_TEST(services_good)
{
        char out[APPPW_SERVICES_MAX + 1];

        ck_assert_int_eq(svc("imap", out, sizeof(out)), 0);
        ck_assert_str_eq(out, "imap");
        ck_assert_int_eq(svc("imap,smtp", out, sizeof(out)), 0);
        ck_assert_str_eq(out, "imap,smtp");
        ck_assert_int_eq(svc("*", out, sizeof(out)), 0);
        ck_assert_str_eq(out, "*");
        ck_assert_int_eq(svc("dovecot,postfix.smtp,sieve_x,pop-3,0", out, sizeof(out)), 0);
        ck_assert_str_eq(out, "dovecot,postfix.smtp,sieve_x,pop-3,0");
}
END_TEST

START_TEST(services_lower_cased)
{
        char out[APPPW_SERVICES_MAX + 1];

        ck_assert_int_eq(svc("IMAP,Smtp", out, sizeof(out)), 0);
        ck_assert_str_eq(out, "imap,smtp");
        ck_assert_int_eq(svc("DoVeCoT", out, sizeof(out)), 0);
        ck_assert_str_eq(out, "dovecot");
}
END_TEST

START_TEST(last_use_current_edges)
{
        struct apppw_entry e;
        const int64_t t = 1700000000;

        memset(&e, 0, sizeof(e));
        memcpy(e.last_service, "imap", 5);
        memcpy(e.last_rhost, "192.0.2.1", 10);
        /* never used: store it */
        ck_assert_int_eq(apppw_last_use_current(&e, t, "imap", "192.0.2.1"), 0);
        e.last_used = t;
        ck_assert_int_eq(apppw_last_use_current(&e, t, "imap", "192.0.2.1"), 1);
        ck_assert_int_eq(
            apppw_last_use_current(&e, t + APPPW_LAST_USE_EVERY - 1, "imap", "192.0.2.1"), 1);
        ck_assert_int_eq(apppw_last_use_current(&e, t + APPPW_LAST_USE_EVERY, "imap", "192.0.2.1"),
                         0);
        /* a clock that went back, another service, another host, a prefix of either */
        ck_assert_int_eq(apppw_last_use_current(&e, t - 1, "imap", "192.0.2.1"), 0);
        ck_assert_int_eq(apppw_last_use_current(&e, t + 1, "smtp", "192.0.2.1"), 0);
        ck_assert_int_eq(apppw_last_use_current(&e, t + 1, "imap", "192.0.2.10"), 0);
        ck_assert_int_eq(apppw_last_use_current(&e, t + 1, "ima", "192.0.2.1"), 0);
        ck_assert_int_eq(apppw_last_use_current(&e, t + 1, "imap", "192.0.2."), 0);
        ck_assert_int_eq(apppw_last_use_current(&e, t + 1, "IMAP", "192.0.2.1"), 0);
}
END_TEST

START_TEST(services_refused)
{
        static const char *const bad[] = {
            "",          ",",         "imap,",    ",imap",      "imap,,smtp", "imap,imap",
            "imap,IMAP", "Smtp,smtp", "a,b,a",    "imap,*",     "*,imap",     "**",
            "im ap",     "imap ",     " imap",    "imap, smtp", "imap;smtp",  "im\xc3\xa4p",
            "imap\t",    "imap/x",    "imap:993", "*x",
        };
        char out[APPPW_SERVICES_MAX + 1];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(svc(bad[i], out, sizeof(out)) == -1, "accepted \"%s\"", bad[i]);
                ck_assert_msg(err[0] != '\0', "no reason for \"%s\"", bad[i]);
        }
        ck_assert_int_eq(apppw_services_parse(NULL, out, sizeof(out), err, sizeof(err)), -1);
}
END_TEST

START_TEST(services_name_length)
{
        char in[64], out[APPPW_SERVICES_MAX + 1];

        memset(in, 's', APPPW_SERVICE_MAX);
        in[APPPW_SERVICE_MAX] = '\0';
        ck_assert_int_eq(svc(in, out, sizeof(out)), 0); /* 32: fits */
        ck_assert_str_eq(out, in);
        in[APPPW_SERVICE_MAX] = 's';
        in[APPPW_SERVICE_MAX + 1] = '\0';
        ck_assert_int_eq(svc(in, out, sizeof(out)), -1); /* 33 */
        ck_assert_str_ne(err, "");
}
END_TEST

/* A list of exactly `total` bytes: k distinct names of at most 31 letters and k - 1 commas. */
static void make_list(char *buf, size_t total)
{
        size_t k = (total + 1 + 31) / 32, letters = total - (k - 1), o = 0;

        for (size_t i = 0; i < k; i++) {
                size_t n = letters / k + (i < letters % k ? 1 : 0);

                ck_assert_uint_ge(n, 1);
                ck_assert_uint_le(n, 31);
                if (i > 0)
                        buf[o++] = ',';
                buf[o++] = (char)('a' + i); /* distinct */
                for (size_t j = 1; j < n; j++)
                        buf[o++] = 'x';
        }
        buf[o] = '\0';
        ck_assert_uint_eq(o, total);
}

START_TEST(services_list_length)
{
        char in[300], out[APPPW_SERVICES_MAX + 1];

        make_list(in, APPPW_SERVICES_MAX); /* 128 bytes: the most an entry holds */
        ck_assert_int_eq(svc(in, out, sizeof(out)), 0);
        ck_assert_str_eq(out, in);
        make_list(in, APPPW_SERVICES_MAX + 1);
        ck_assert_int_eq(svc(in, out, sizeof(out)), -1);
        make_list(in, 200);
        ck_assert_int_eq(svc(in, out, sizeof(out)), -1);
}
END_TEST

START_TEST(services_output_size)
{
        char out[16];

        memset(out, 'Z', sizeof(out));
        ck_assert_int_eq(svc("IMAP", out, 4), -1);
        ck_assert_int_eq(out[4], 'Z');
        ck_assert_int_eq(svc("*", out, 2), 0);
        ck_assert_int_eq(svc("*", out, 1), -1);
        ck_assert_int_eq(svc("imap,smtp", out, 9), -1);
        ck_assert_int_eq(svc("imap,smtp", out, 10), 0);
        ck_assert_str_eq(out, "imap,smtp");
}
END_TEST

/* ---- apppw_service_allowed ------------------------------------------------------------ */

START_TEST(allowed_star)
{
        struct apppw_entry e;

        fill_entry(&e, "x", 1);
        ck_assert_int_eq(apppw_service_allowed(&e, "imap"), 1);
        ck_assert_int_eq(apppw_service_allowed(&e, "anything-at-all"), 1);
        ck_assert_int_eq(apppw_service_allowed(&e, ""), 1);
}
END_TEST

START_TEST(allowed_list)
{
        struct apppw_entry e;

        fill_entry(&e, "x", 1);
        memcpy(e.services, "imap,smtp,sieve", 16);
        ck_assert_int_eq(apppw_service_allowed(&e, "imap"), 1);
        ck_assert_int_eq(apppw_service_allowed(&e, "smtp"), 1);
        ck_assert_int_eq(apppw_service_allowed(&e, "sieve"), 1); /* last */
        ck_assert_int_eq(apppw_service_allowed(&e, "pop3"), 0);
        ck_assert_int_eq(apppw_service_allowed(&e, "ima"), 0);   /* prefix */
        ck_assert_int_eq(apppw_service_allowed(&e, "imaps"), 0); /* longer */
        ck_assert_int_eq(apppw_service_allowed(&e, "mtp"), 0);   /* suffix */
        ck_assert_int_eq(apppw_service_allowed(&e, "map,smt"), 0);
        ck_assert_int_eq(apppw_service_allowed(&e, "imap,smtp"), 0); /* not two at once */
        ck_assert_int_eq(apppw_service_allowed(&e, ""), 0);
        ck_assert_int_eq(apppw_service_allowed(&e, "*"), 0);
        ck_assert_int_eq(apppw_service_allowed(&e, NULL), 0);
        memcpy(e.services, "imap", 5);
        ck_assert_int_eq(apppw_service_allowed(&e, "imap"), 1);
        ck_assert_int_eq(apppw_service_allowed(&e, "smtp"), 0);
}
END_TEST

/* ---- apppw_hash (documented: HMAC(server key, "apppw", store key, letters)) ------------- */

START_TEST(hash_matches_oracle)
{
        unsigned char key[MAC_KEY_LEN], got[MAC_LEN], want[MAC_LEN];
        struct tu_part p[3] = {tu_str("apppw"), tu_str("alice@example.com"),
                               tu_str("abcdefghijkmnpqrstuv")};

        for (unsigned i = 0; i < MAC_KEY_LEN; i++)
                key[i] = (unsigned char)(200U - i);
        ck_assert_int_eq(apppw_hash(key, "alice@example.com", "abcdefghijkmnpqrstuv", got, NULL, 0),
                         MAILOTP_OK);
        tu_mac_oracle(key, p, 3, want);
        ck_assert_mem_eq(got, want, MAC_LEN);
}
END_TEST

START_TEST(hash_depends_on_every_input)
{
        unsigned char key[MAC_KEY_LEN], a[MAC_LEN], b[MAC_LEN];

        memset(key, 7, sizeof(key));
        ck_assert_int_eq(apppw_hash(key, "alice", "abcdefghijkmnpqrstuv", a, NULL, 0), MAILOTP_OK);
        ck_assert_int_eq(apppw_hash(key, "bob", "abcdefghijkmnpqrstuv", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        ck_assert_int_eq(apppw_hash(key, "alice", "abcdefghijkmnpqrstuw", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        key[0] = 8;
        ck_assert_int_eq(apppw_hash(key, "alice", "abcdefghijkmnpqrstuv", b, NULL, 0), MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        key[0] = 7;
        ck_assert_int_eq(apppw_hash(key, "alice", "abcdefghijkmnpqrstuv", b, NULL, 0), MAILOTP_OK);
        ck_assert_mem_eq(a, b, MAC_LEN);
}
END_TEST

/* ---- apppw_find / apppw_find_name ----------------------------------------------------- */

static struct apppw_list *full_list(void)
{
        struct apppw_list *l = calloc(1, sizeof(*l));
        char name[16];

        ck_assert_ptr_nonnull(l);
        for (unsigned i = 0; i < APPPW_MAX; i++) {
                snprintf(name, sizeof(name), "dev%u", i);
                fill_entry(&l->e[i], name, i);
        }
        l->n = APPPW_MAX;
        return l;
}

START_TEST(find_every_index)
{
        struct apppw_list *l = full_list();
        unsigned char h[MAC_LEN];

        for (unsigned i = 0; i < APPPW_MAX; i++) {
                memcpy(h, l->e[i].hash, MAC_LEN);
                ck_assert_msg(apppw_find(l, h) == (int)i, "entry %u found at %d", i,
                              apppw_find(l, h));
        }
        /* absent: every single-bit change of a stored hash */
        for (unsigned bit = 0; bit < 8 * MAC_LEN; bit += 13) {
                memcpy(h, l->e[bit % APPPW_MAX].hash, MAC_LEN);
                h[bit / 8] ^= (unsigned char)(1U << (bit % 8));
                ck_assert_int_eq(apppw_find(l, h), -1);
        }
        free(l);
}
END_TEST

START_TEST(find_respects_count)
{
        struct apppw_list *l = full_list();
        unsigned char h[MAC_LEN];

        memcpy(h, l->e[30].hash, MAC_LEN);
        l->n = 30; /* entry 30 is beyond the list */
        ck_assert_int_eq(apppw_find(l, h), -1);
        l->n = 31;
        ck_assert_int_eq(apppw_find(l, h), 30);
        l->n = 0;
        ck_assert_int_eq(apppw_find(l, h), -1);
        free(l);
}
END_TEST

START_TEST(find_name)
{
        struct apppw_list *l = full_list();

        ck_assert_int_eq(apppw_find_name(l, "dev0"), 0);
        ck_assert_int_eq(apppw_find_name(l, "dev17"), 17);
        ck_assert_int_eq(apppw_find_name(l, "dev49"), 49);
        ck_assert_int_eq(apppw_find_name(l, "dev50"), -1);
        ck_assert_int_eq(apppw_find_name(l, "dev"), -1);
        ck_assert_int_eq(apppw_find_name(l, "dev1 "), -1);
        ck_assert_int_eq(apppw_find_name(l, ""), -1);
        l->n = 17;
        ck_assert_int_eq(apppw_find_name(l, "dev17"), -1);
        free(l);
}
END_TEST

/* ---- format ------------------------------------------------------------------------------ */

START_TEST(format_exact_text)
{
        struct apppw_list *l = calloc(1, sizeof(*l));
        char buf[1024], hex[MAC_HEX_LEN + 1], want[1024];
        size_t len = 0;

        ck_assert_ptr_nonnull(l);
        fill_entry(&l->e[0], "phone", 1);
        fill_entry(&l->e[1], "laptop", 2);
        l->e[1].expires = 1800000000;
        memcpy(l->e[1].services, "imap,smtp", 10);
        l->e[1].last_used = 1700000500;
        memcpy(l->e[1].last_service, "imap", 5);
        memcpy(l->e[1].last_rhost, "192.0.2.1", 10);
        l->n = 2;
        ck_assert_int_eq(apppw_format(l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_uint_eq(len, strlen(buf));
        tu_hex(l->e[0].hash, MAC_LEN, hex);
        {
                char hex2[MAC_HEX_LEN + 1];

                tu_hex(l->e[1].hash, MAC_LEN, hex2);
                snprintf(want, sizeof(want),
                         "# pam_mailotp application passwords: use mailotp(1)\n"
                         "version = 1\n"
                         "app = phone %s 1700000001 0 * 0 - -\n"
                         "app = laptop %s 1700000002 1800000000 imap,smtp 1700000500 imap "
                         "192.0.2.1\n"
                         "end\n",
                         hex, hex2);
        }
        ck_assert_str_eq(buf, want);
        free(l);
}
END_TEST

START_TEST(format_empty_list)
{
        struct apppw_list l;
        char buf[256];
        size_t len = 0;

        memset(&l, 0, sizeof(l));
        ck_assert_int_eq(apppw_format(&l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_str_eq(buf, "# pam_mailotp application passwords: use mailotp(1)\n"
                              "version = 1\nend\n");
        ck_assert_uint_eq(len, strlen(buf));
}
END_TEST

START_TEST(format_unused_fields_are_dashes)
{
        struct apppw_list l;
        char buf[512];
        size_t len = 0;

        memset(&l, 0, sizeof(l));
        fill_entry(&l.e[0], "x", 3);
        l.e[0].last_service[0] = '\0';
        l.e[0].last_rhost[0] = '\0';
        l.n = 1;
        ck_assert_int_eq(apppw_format(&l, buf, sizeof(buf), &len), MAILOTP_OK);
        ck_assert_ptr_nonnull(strstr(buf, " * 0 - -\nend\n"));
}
END_TEST

START_TEST(format_small_buffer)
{
        struct apppw_list *l = full_list();
        char *buf = malloc(APPPW_FILE_MAX);
        size_t full = 0, len = 0;

        ck_assert_ptr_nonnull(buf);
        l->n = 3;
        ck_assert_int_eq(apppw_format(l, buf, APPPW_FILE_MAX, &full), MAILOTP_OK);
        for (size_t sz = 0; sz <= full; sz++)
                ck_assert_msg(apppw_format(l, buf, sz, &len) == MAILOTP_ERR_INVALID,
                              "fit in %zu bytes (needs %zu)", sz, full + 1);
        ck_assert_int_eq(apppw_format(l, buf, full + 1, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, full);
        free(buf);
        free(l);
}
END_TEST

/* ---- parse / format round trip ------------------------------------------------------------ */

static void round_trip(struct apppw_list *l)
{
        char *buf = malloc(APPPW_FILE_MAX);
        struct apppw_list *back = malloc(sizeof(*back));
        size_t len = 0;

        ck_assert_ptr_nonnull(buf);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(apppw_format(l, buf, APPPW_FILE_MAX, &len), MAILOTP_OK);
        ck_assert_uint_ge(len, 5);
        ck_assert_str_eq(buf + len - 5, "\nend\n");
        memset(back, 0xA5, sizeof(*back));
        ck_assert_msg(apppw_parse(buf, len, back, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(back->n, l->n);
        for (size_t i = 0; i < l->n; i++)
                ck_assert_msg(entry_equal(&back->e[i], &l->e[i]), "entry %zu differs", i);
        /* every strict prefix is refused */
        for (size_t cut = 0; cut < len; cut += (len > 2000 ? 97 : 1)) {
                ck_assert_msg(apppw_parse(buf, cut, back, err, sizeof(err)) == MAILOTP_ERR_FORMAT,
                              "prefix of %zu/%zu accepted", cut, len);
                ck_assert_uint_eq(back->n, 0);
        }
        free(buf);
        free(back);
}

START_TEST(round_trip_zero)
{
        struct apppw_list l;

        memset(&l, 0, sizeof(l));
        round_trip(&l);
}
END_TEST

START_TEST(round_trip_one)
{
        struct apppw_list l;

        memset(&l, 0, sizeof(l));
        fill_entry(&l.e[0], "phone", 9);
        l.e[0].expires = 1900000000;
        memcpy(l.e[0].services, "imap,smtp", 10);
        l.e[0].last_used = 1700001234;
        memcpy(l.e[0].last_service, "smtp", 5);
        memcpy(l.e[0].last_rhost, "2001:db8::1", 12);
        l.n = 1;
        round_trip(&l);
}
END_TEST

START_TEST(round_trip_max)
{
        struct apppw_list *l = full_list();
        char in[APPPW_SERVICES_MAX + 2];

        /* the longest fields everywhere */
        make_list(in, APPPW_SERVICES_MAX);
        for (unsigned i = 0; i < APPPW_MAX; i++) {
                struct apppw_entry *e = &l->e[i];

                memset(e->name, 'n', APPPW_NAME_MAX);
                snprintf(e->name + APPPW_NAME_MAX - 2, 3, "%02u", i);
                e->created = 253402300799;
                e->expires = 253402300799;
                ck_assert_int_eq(
                    apppw_services_parse(in, e->services, sizeof(e->services), NULL, 0), 0);
                e->last_used = 253402300799;
                memset(e->last_service, 's', APPPW_SERVICE_MAX);
                e->last_service[APPPW_SERVICE_MAX] = '\0';
                memset(e->last_rhost, 'r', APPPW_RHOST_MAX);
                e->last_rhost[APPPW_RHOST_MAX] = '\0';
        }
        round_trip(l);
        free(l);
}
END_TEST

/* ---- parse: refused ------------------------------------------------------------------------ */

#define HEX64    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define GOOD_APP "app = phone " HEX64 " 1700000000 0 * 0 - -\n"

START_TEST(parse_good_minimal)
{
        struct apppw_list l;

        ck_assert_msg(parse_str("version = 1\n" GOOD_APP "end\n", &l) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(l.n, 1);
        ck_assert_str_eq(l.e[0].name, "phone");
        ck_assert_int_eq(l.e[0].hash[0], 0x00);
        ck_assert_int_eq(l.e[0].hash[31], 0xff);
        ck_assert_int_eq(l.e[0].created, 1700000000);
        ck_assert_str_eq(l.e[0].services, "*");
        ck_assert_msg(parse_str("# c\n\nversion = 1\nend\n", &l) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(parse_refused_lines)
{
        static const char *const bad[] = {
            /* bad hex */
            "app = phone 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff "
            "1 0 * 0 - -\n",
            "app = phone 00112233445566778899aabbccddeeff00112233445566778899aabbccddee "
            "1 0 * 0 - -\n",
            "app = phone 0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff "
            "1 0 * 0 - -\n",
            "app = phone " HEX64 "0 1 0 * 0 - -\n",
            /* bad names */
            "app = -phone " HEX64 " 1 0 * 0 - -\n",
            "app = ph/one " HEX64 " 1 0 * 0 - -\n",
            "app = nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn " HEX64 " 1 0 * 0 - -\n",
            /* field counts */
            "app = phone " HEX64 " 1 0 * 0 -\n",
            "app = phone " HEX64 " 1 0 * 0 - - x\n",
            "app = phone\n",
            "app =\n",
            "app\n",
            /* numbers */
            "app = phone " HEX64 " x 0 * 0 - -\n",
            "app = phone " HEX64 " -1 0 * 0 - -\n",
            "app = phone " HEX64 " 1 253402300800 * 0 - -\n",
            "app = phone " HEX64 " 1 0 * 1.5 - -\n",
            /* services: not normalised or invalid */
            "app = phone " HEX64 " 1 0 IMAP 0 - -\n",
            "app = phone " HEX64 " 1 0 imap,,smtp 0 - -\n",
            "app = phone " HEX64 " 1 0 imap,imap 0 - -\n",
            /* last service / rhost too long */
            "app = phone " HEX64 " 1 0 * 0 sssssssssssssssssssssssssssssssss -\n",
            "app = phone " HEX64 " 1 0 * 0 - "
            "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr\n",
            /* unknown key */
            "password = phone " HEX64 " 1 0 * 0 - -\n",
            "version = 1\n",
        };
        struct apppw_list l;
        char buf[1024];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(buf, sizeof(buf), "version = 1\n%send\n", bad[i]);
                memset(&l, 0xA5, sizeof(l));
                ck_assert_msg(parse_str(buf, &l) == MAILOTP_ERR_FORMAT, "accepted case %zu:\n%s", i,
                              buf);
                ck_assert_str_ne(err, "");
                assert_wiped(&l);
        }
}
END_TEST

START_TEST(parse_repeated_name)
{
        struct apppw_list l;

        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP GOOD_APP "end\n", &l),
                         MAILOTP_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(err, "line 3"));
        assert_wiped(&l);
}
END_TEST

START_TEST(parse_too_many)
{
        char *buf = malloc(APPPW_FILE_MAX);
        struct apppw_list *l = malloc(sizeof(*l));
        size_t off;

        ck_assert_ptr_nonnull(buf);
        ck_assert_ptr_nonnull(l);
        off = (size_t)snprintf(buf, APPPW_FILE_MAX, "version = 1\n");
        for (unsigned i = 0; i < APPPW_MAX; i++)
                off += (size_t)snprintf(buf + off, APPPW_FILE_MAX - off,
                                        "app = d%u " HEX64 " 1 0 * 0 - -\n", i);
        memcpy(buf + off, "end\n", 5);
        ck_assert_msg(parse_str(buf, l) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(l->n, APPPW_MAX);
        off += (size_t)snprintf(buf + off, APPPW_FILE_MAX - off,
                                "app = d%u " HEX64 " 1 0 * 0 - -\n", APPPW_MAX);
        memcpy(buf + off, "end\n", 5);
        ck_assert_int_eq(parse_str(buf, l), MAILOTP_ERR_FORMAT);
        assert_wiped(l);
        free(buf);
        free(l);
}
END_TEST

START_TEST(parse_version_rules)
{
        struct apppw_list l;

        ck_assert_int_eq(parse_str(GOOD_APP "end\n", &l), MAILOTP_ERR_FORMAT); /* missing */
        assert_wiped(&l);
        ck_assert_int_eq(parse_str(GOOD_APP "version = 1\nend\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 2\n" GOOD_APP "end\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 0\nend\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version\nend\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("end\n", &l), MAILOTP_ERR_FORMAT); /* empty content */
        ck_assert_int_eq(parse_str("", &l), MAILOTP_ERR_FORMAT);
}
END_TEST

START_TEST(parse_end_line_rules)
{
        struct apppw_list l;

        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP, &l), MAILOTP_ERR_FORMAT); /* missing */
        ck_assert_ptr_nonnull(strstr(err, "cut short"));
        assert_wiped(&l);
        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP "end", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 1\nend\n" GOOD_APP, &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 1\nend\n" GOOD_APP "end\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP "end\n\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP "end\n# x\n", &l), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP "end\nend\n", &l), MAILOTP_ERR_FORMAT);
        assert_wiped(&l);
        /* and the good one, to show the refusals are about the end line */
        ck_assert_int_eq(parse_str("version = 1\n" GOOD_APP "end\n", &l), MAILOTP_OK);
}
END_TEST

START_TEST(parse_nul_and_binary)
{
        static const char buf[] = "version = 1\n" GOOD_APP "end\n";
        char copy[sizeof(buf)];
        struct apppw_list l;

        memcpy(copy, buf, sizeof(buf));
        copy[20] = '\0';
        ck_assert_int_eq(apppw_parse(copy, sizeof(buf) - 1, &l, err, sizeof(err)),
                         MAILOTP_ERR_FORMAT);
        assert_wiped(&l);
        for (size_t i = 0; i < sizeof(copy) - 1; i++)
                copy[i] = (char)(i * 53 + 7);
        memcpy(copy + sizeof(copy) - 5, "\nend\n", 5);
        ck_assert_int_eq(apppw_parse(copy, sizeof(copy) - 1, &l, err, sizeof(err)),
                         MAILOTP_ERR_FORMAT);
}
END_TEST

/* ---- known bugs ------------------------------------------------------------------------- */

/*
 * KNOWN BUG (src/apppw.c apppw_services_parse, the "service list too long"
 * check): the total length test is `o + nlen + 1 > APPPW_SERVICES_MAX + 1`,
 * where o + 1 + nlen is the new length, so with an output buffer larger than
 * APPPW_SERVICES_MAX + 1 a list of exactly APPPW_SERVICES_MAX + 1 (129) bytes
 * is accepted while 130 bytes are refused.  options.c passes its 256-byte
 * no_app_passwords buffer, so no_app_passwords accepts a 129-byte list that
 * no application-password entry could hold.  Fix: compare the new length,
 * `o + (o > 0) + nlen > APPPW_SERVICES_MAX`.
 */
START_TEST(bug_services_limit_off_by_one)
{
        char in[300], out[256];

        make_list(in, APPPW_SERVICES_MAX);
        ck_assert_int_eq(svc(in, out, sizeof(out)), 0);
        make_list(in, APPPW_SERVICES_MAX + 2);
        ck_assert_int_eq(svc(in, out, sizeof(out)), -1);
        make_list(in, APPPW_SERVICES_MAX + 1);
        ck_assert_msg(svc(in, out, sizeof(out)) == -1,
                      "a %u-byte service list was accepted (limit %u)", APPPW_SERVICES_MAX + 1,
                      APPPW_SERVICES_MAX);
}
END_TEST

static Suite *apppw_suite(void)
{
        Suite *s = suite_create("apppw");
        TCase *tc;

        tc = tcase_create("names");
        tcase_add_test(tc, name_good);
        tcase_add_test(tc, name_bad);
        tcase_add_test(tc, name_every_byte);
        suite_add_tcase(s, tc);

        tc = tcase_create("services");
        tcase_add_test(tc, services_good);
        tcase_add_test(tc, services_lower_cased);
        tcase_add_test(tc, services_refused);
        tcase_add_test(tc, services_name_length);
        tcase_add_test(tc, services_list_length);
        tcase_add_test(tc, services_output_size);
        tcase_add_test(tc, allowed_star);
        tcase_add_test(tc, allowed_list);
        tcase_add_test(tc, last_use_current_edges);
        suite_add_tcase(s, tc);

        tc = tcase_create("hash_find");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, hash_matches_oracle);
        tcase_add_test(tc, hash_depends_on_every_input);
        tcase_add_test(tc, find_every_index);
        tcase_add_test(tc, find_respects_count);
        tcase_add_test(tc, find_name);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_test(tc, format_exact_text);
        tcase_add_test(tc, format_empty_list);
        tcase_add_test(tc, format_unused_fields_are_dashes);
        tcase_add_test(tc, format_small_buffer);
        tcase_add_test(tc, round_trip_zero);
        tcase_add_test(tc, round_trip_one);
        tcase_add_test(tc, round_trip_max);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse");
        tcase_add_test(tc, parse_good_minimal);
        tcase_add_test(tc, parse_refused_lines);
        tcase_add_test(tc, parse_repeated_name);
        tcase_add_test(tc, parse_too_many);
        tcase_add_test(tc, parse_version_rules);
        tcase_add_test(tc, parse_end_line_rules);
        tcase_add_test(tc, parse_nul_and_binary);
        suite_add_tcase(s, tc);

        tc = tcase_create("known_bugs");
        tcase_add_test(tc, bug_services_limit_off_by_one);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(apppw_suite());
}
