/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Usernames come from the network (IMAP LOGIN, SMTP AUTH, a web form) and
 * become file names in the store.  Everything about that lives here.
 *
 * Case policy: ASCII letters are folded to lower case to form the store key,
 * so "Alice@Example.COM" and "alice@example.com" share one record.  A
 * password backend that ignores case (SQL, LDAP, Dovecot's %Lu) must never
 * let a case variant log in without the second factor.  Non-ASCII UTF-8 is
 * kept byte for byte (no Unicode case folding).
 */
#ifndef MAILOTP_USERNAME_H
#define MAILOTP_USERNAME_H

#include <stddef.h>

#include "mailotp_rc.h"

#define USERNAME_MAX 255U /* bytes, as NAME_MAX */

/*
 * Validate `user` and write its store key (ASCII lower-cased) into key
 * (keysz >= USERNAME_MAX + 1).  Accepted: 1..USERNAME_MAX bytes of valid
 * UTF-8 with no ASCII control bytes, no space, no DEL, no '/' and no '\\',
 * not starting with '.'.  Returns MAILOTP_ERR_INVALID with a reason in err
 * otherwise (the reason never repeats the name).
 */
enum mailotp_rc username_to_key(const char *user, char *key, size_t keysz, char *err,
                                size_t errlen);

/*
 * 1 when buf[0..len) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0.
 */
int text_utf8_valid(const unsigned char *buf, size_t len);

/*
 * Copy `in` into out (outsz bytes) for a log line: printable ASCII except
 * '"' and '\\' is kept, every other byte becomes \xNN, and an overlong
 * result ends in "...".  Always NUL-terminates when outsz > 0.  NULL in
 * gives "(none)".
 */
void text_log_escape(const char *in, char *out, size_t outsz);

/*
 * As text_log_escape(), but spaces are kept: for free-text reasons that go
 * inside quotes in a log line.
 */
void text_log_escape_text(const char *in, char *out, size_t outsz);

#endif
