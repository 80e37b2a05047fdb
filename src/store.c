/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Backend-independent entry points: one dispatch each, nothing else. */
#include "store.h"

enum mailotp_rc store_record_load(struct store *st, const char *key, struct otp_record *rec,
                                  char *err, size_t errlen)
{
        return st->ops->record_load(st, key, rec, err, errlen);
}

enum mailotp_rc store_record_save(struct store *st, const char *key, const struct otp_record *rec,
                                  char *err, size_t errlen)
{
        return st->ops->record_save(st, key, rec, err, errlen);
}

enum mailotp_rc store_state_load(struct store *st, const char *key, struct otp_state *s, char *err,
                                 size_t errlen)
{
        return st->ops->state_load(st, key, s, err, errlen);
}

enum mailotp_rc store_state_save(struct store *st, const char *key, const struct otp_state *s,
                                 char *err, size_t errlen)
{
        return st->ops->state_save(st, key, s, err, errlen);
}

enum mailotp_rc store_user_delete(struct store *st, const char *key, char *err, size_t errlen)
{
        return st->ops->user_delete(st, key, err, errlen);
}

enum mailotp_rc store_server_key(struct store *st, int create, unsigned char out[MAC_KEY_LEN],
                                 char *err, size_t errlen)
{
        return st->ops->server_key(st, create, out, err, errlen);
}

enum mailotp_rc store_apppw_load(struct store *st, const char *key, struct apppw_list *l, char *err,
                                 size_t errlen)
{
        return st->ops->apppw_load(st, key, l, err, errlen);
}

enum mailotp_rc store_apppw_save(struct store *st, const char *key, const struct apppw_list *l,
                                 char *err, size_t errlen)
{
        return st->ops->apppw_save(st, key, l, err, errlen);
}

enum mailotp_rc store_recovery_load(struct store *st, const char *key, struct recovery_list *l,
                                    char *err, size_t errlen)
{
        return st->ops->recovery_load(st, key, l, err, errlen);
}

enum mailotp_rc store_recovery_save(struct store *st, const char *key,
                                    const struct recovery_list *l, char *err, size_t errlen)
{
        return st->ops->recovery_save(st, key, l, err, errlen);
}

enum mailotp_rc store_state_save_noted(struct store *st, const char *key, const struct otp_state *s,
                                       const struct lastlog_event *ev, size_t keep, char *warn,
                                       size_t warnlen, char *err, size_t errlen)
{
        if (warn != NULL && warnlen > 0)
                warn[0] = '\0';
        return st->ops->state_save_noted(st, key, s, ev, keep, warn, warnlen, err, errlen);
}

enum mailotp_rc store_lastlog_load(struct store *st, const char *key, struct lastlog *l, char *err,
                                   size_t errlen)
{
        return st->ops->lastlog_load(st, key, l, err, errlen);
}

enum mailotp_rc store_lastlog_append(struct store *st, const char *key,
                                     const struct lastlog_event *ev, size_t keep, char *err,
                                     size_t errlen)
{
        return st->ops->lastlog_append(st, key, ev, keep, err, errlen);
}

enum mailotp_rc store_lock(struct store *st, const char *key, unsigned timeout_ms,
                           struct store_lock **lk, char *err, size_t errlen)
{
        return st->ops->lock(st, key, timeout_ms, lk, err, errlen);
}

void store_unlock(struct store *st, struct store_lock *lk)
{
        if (st != NULL && lk != NULL)
                st->ops->unlock(lk);
}

void store_close(struct store *st)
{
        if (st != NULL)
                st->ops->close(st);
}
