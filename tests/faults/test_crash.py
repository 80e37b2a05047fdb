# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash consistency: writers killed with SIGKILL at every point and at random.

Every writer (logins of each kind and every mailotp verb that writes) runs
under the shim with FAULT_VERSIONS set: just before a new version of a file is
put in place (rename or link), the shim keeps a copy of that complete version,
and just before an in-place change (a slot write of a user file, an append to
or ftruncate of the last-logins log) the file as that change will leave it.
After a writer is killed, every file of the store must be the version from
before the writer started or one of the complete versions it was putting in
place: never torn, never half written.  Some files are written in place, and
for them the invariant is what a reader gets, checked with the independent
decoders of mailotp_testlib:

  - the user file users/KEY (record + state, two slots, the older one
    overwritten): a slot write cut short by the crash leaves a torn slot, a
    legitimate byte image; the file must stay 8192 bytes with at least one
    valid slot whose payload is a record that parses followed by a state (or
    nothing, pending), and decode to the user from before or to one the
    writer was putting in place; a login or unlock never changes the record;
  - the state of a store of 0.2.0 without users/ (state/KEY, the same slots):
    8192 bytes, a valid slot, the state before or one being put in place;
  - the last-logins log (appended to): a cut append leaves a part line; the
    log must still have its header, every complete line must be one of the
    lines before or of a version the writer was making, and the entries a
    reader gets must be those of the log before or of one of those versions
    (or, for a torn append of a moved batch, the log before and the batch's
    first lines);
  - the last-logins entries pending in a user file (0.3.2: kept with the
    state write of a code login, in the slot's extension, and moved to the log
    in batches, durably, before the slot write that drops them): after any
    kill, each is still pending, or in the log, or both (a kill between the
    move and the slot write: shown twice, acceptable), never gone; and
    `mailotp --json last` reads and shows what the files hold.

Across the files, each user is read from users/KEY or else the 0.2.0 layout
(records/KEY, state/KEY): never a records/KEY saying "moved" without
users/KEY, never a user gone unless the writer was disable.  Temporary files
of the killed writer may stay; they must not block anything.  Then the store
must still read (`mailotp --json status`), the writer must be able to run
again, the code of the writer's time must be a replay exactly when its step
is stored where a reader looks, and the next login must work.

  - the writers include the first writes of a user of 0.2.0 (a login with a
    right and a wrong code, unlock, enroll --force, disable --force), which
    move her: users/KEY made, records/KEY replaced by the note that she moved,
    state/KEY removed; a login in a 0.2.0 store without users/; a login
    without a code (its entry appended straight to the log); and three that
    move a full batch of pending entries (MOVERS: a code login, with the log
    appended to or, of 0.1.0, rewritten; disable --force, which moves them
    before it removes the user);
  - exhaustive: for each writer, a SIGKILL raised by the shim just before each
    call that changes the store and just after the last one (every distinct
    state a crash can leave), and for every pwrite (state slot) and append
    write (last-logins log) also a torn one: the first 1, 24, 100 or 2048
    bytes written, and 20 bytes into the slot's extension (its payload
    whole), then the kill; and a move killed right after users/KEY is
    in place and right around the rename of records/KEY, checked in detail
    (users/KEY wins, the killed login's code is a replay, disable then
    removes every file of the user);
  - random: a few hundred writers in a row on one evolving store, each killed
    by an outside SIGKILL after a random delay (in microseconds) drawn over
    the writer's measured run time, stale temporary files accumulating;
  - the durability protocol itself, from the trace of every writer: each new
    version of a user, record, state, app-password, recovery-code or server-key
    file is fsynced before it is renamed (or linked) into place, and the
    directory is fsynced after; a move puts users/KEY in place and flushes
    users/ before records/KEY says moved, and removes state/KEY last; each
    slot write of a user file (pwrite) is followed by fdatasync of that file
    before it is closed, with no write in between (a kill -9 does not lose the
    page cache, so this is what stands for power loss); a move of pending
    entries is flushed (fdatasync of the append; fsync, rename, fsync of last/
    for a rewrite) before the slot write or removal that drops them.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

from faultlib import (PENDING_MAX, PW, STRICT, T, FaultWorld, KnownBugs, is_temp, json_line,
                      line_fields, login_lines, make_legacy, reader_view, read_trace,
                      require_env, state_key, user_view, v1_lastlog)
import mailotp_testlib as tl  # noqa: E402  (faultlib puts tests/pam on the path)

KNOWN_BUGS = {
}

MUTATING = {"write", "pwrite", "fsync", "fdatasync", "ftruncate", "fchmod", "rename", "renameat",
            "renameat2", "linkat", "unlinkat", "mkdirat"}
TEAR = (1, 24, 100, 2048)  # bytes of a torn pwrite/append before the kill
DURABLE_AREAS = ("users", "records", "state", "apppw", "recovery", "server.key")
USERS = ("alice", "carol")
# Writers that move a full batch of pending last-logins entries to last/alice first.
MOVERS = ("login-code-move", "login-code-move-v1", "disable-force-pending")


def mutating(call):
    return call.func in MUTATING or (call.func in ("open", "openat") and call.mode == "w")


class Crash(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_env(cls)
        w = cls.w = FaultWorld()
        # An empty store (for the very first enroll: directories, server key) ...
        cls.empty = w.snapshot("empty")
        # ... and a lived-in one.
        w.enable_at("alice", T - 1500)
        cls.app_pw = w.jcli("app-password", "add", "alice", "phone", now=T - 1500)["password"]
        cls.recovery = w.jcli("recovery-codes", "alice", now=T - 1500)["codes"]
        r = w.run_cli("enroll", "--no-qr", "carol", now=T - 90)
        cls.carol = r.stdout.split("secret=")[1].split("&")[0].split()[0]
        w.secrets["carol"] = cls.carol
        cls.simple = w.simple_service("alice", name="imap")
        cls.hardened = w.hardened_service("alice", name="imap-hard")
        # Its log keeps 40: a batch of pending last-logins entries is 32 (PENDING_MAX).
        cls.keep40 = w.simple_service("alice", extra="last_logins=40", name="imap-keep40")
        enrolled = w.snapshot("enrolled")
        # A login without a code (its entry appended straight to last/alice) and one with a
        # code (its entry pending in users/alice).
        assert w.run_login(cls.simple, "alice", PW, now=T - 75).result == "PAM_AUTH_ERR"
        assert w.run_login(cls.simple, "alice", PW + w.code_at("alice", T - 60),
                           now=T - 60).result == "PAM_SUCCESS"
        cls.lived = w.snapshot("lived")
        # The same store with alice in the layout of 0.2.0 (records/alice, state/alice, her
        # entries in last/alice): her first write moves her into users/alice ...
        make_legacy(w.store, "alice")
        cls.legacy = w.snapshot("legacy")
        # ... and a store of 0.2.0 not yet opened by the 0.3.0 CLI (no users/): the module
        # writes state/alice in place, as 0.2.0 did.
        make_legacy(w.store, "carol")
        os.rmdir(os.path.join(w.store, "users"))
        cls.old_store = w.snapshot("old-store")
        # A full batch of pending entries (32 code logins, the log keeping 40): the next
        # code login moves them to last/alice (append + fdatasync) before its slot write;
        # with a log of 0.1.0 the move rewrites it (temporary file, fsync, rename, fsync).
        w.restore(enrolled)
        assert w.run_login(cls.keep40, "alice", PW, now=T - 1400).result == "PAM_AUTH_ERR"
        for k in range(PENDING_MAX + 1, 1, -1):
            assert w.run_login(cls.keep40, "alice", PW + w.code_at("alice", T - 30 * k),
                               now=T - 30 * k).result == "PAM_SUCCESS"
        assert len(login_lines(w.files(), "alice")[1]) == PENDING_MAX
        cls.full = w.snapshot("full")
        p = os.path.join(w.store, "last", "alice")
        with open(p + ".harness", "wb") as f:
            f.write(v1_lastlog(login_lines(w.files(), "alice")[0]))
        os.chmod(p + ".harness", 0o600)
        os.rename(p + ".harness", p)
        cls.full_v1 = w.snapshot("full-v1")
        w.restore(cls.lived)
        cls.bugs = KnownBugs(KNOWN_BUGS)
        cls.kills = 0
        # byte images no version had, read back whole: the user file and the 0.2.0 state
        # (slot writes in place), the last-logins log (appends)
        cls.torn = {"users": 0, "state": 0, "last": 0, "part of a batch": 0}
        cls.again = {"replay refused": 0, "unused code accepted": 0}
        # after a kill in a move: the batch in last/alice, still pending, or both
        cls.batch = {"moved": 0, "pending": 0, "both": 0, "trimmed to a new keep": 0}
        cls.last_read = {}  # (last/alice, users/alice) bytes -> mailotp --json last
        cls.proven = set()
        cls.t0 = time.time()

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "w"):
            for key in sorted(cls.bugs.seen):
                sys.stderr.write("\nKNOWN BUG %s hit: %s\n" % (key, cls.bugs.seen[key][:300]))
            sys.stderr.write("\ncrash consistency: %d writers killed in %.1f s\n" % (
                cls.kills, time.time() - cls.t0))
            cls.w.cleanup()

    # -- the writers ---------------------------------------------------------------------
    def writers(self):
        """name -> (snapshot it starts from, spec(now), exits accepted when run again).

        A spec is ("login", service, user, answer) or ("cli", args...); logins are not
        run again (the same code would be a replay)."""
        w = self.w
        code = lambda now: PW + w.code_at("alice", now)  # noqa: E731

        def wrong(now):
            return PW + "%06d" % ((int(w.code_at("alice", now)) + 1) % 1000000)

        return {
            "login-code": (self.lived, lambda now: ("login", self.simple, "alice", code(now)),
                           None),
            "login-wrong-code": (self.lived,
                                 lambda now: ("login", self.simple, "alice", wrong(now)), None),
            "login-app-password": (self.lived,
                                   lambda now: ("login", self.simple, "alice", self.app_pw),
                                   None),
            "login-recovery-code": (self.lived, lambda now: (
                "login", self.simple, "alice", PW + self.recovery[1]), None),
            "login-hardened": (self.lived,
                               lambda now: ("login", self.hardened, "alice", code(now)), None),
            "unlock": (self.lived, lambda now: ("cli", "unlock", "alice"), {0}),
            "confirm": (self.lived, lambda now: ("cli", "confirm", "carol",
                                                 w.code_at("carol", now)), {0, 3}),
            "enroll-force": (self.lived,
                             lambda now: ("cli", "enroll", "--force", "--no-qr", "carol"), {0}),
            "app-password-add": (self.lived, lambda now: (
                "cli", "app-password", "add", "alice", "tablet"), {0, 3}),
            "app-password-revoke": (self.lived, lambda now: (
                "cli", "app-password", "revoke", "alice", "phone"), {0, 3}),
            "recovery-codes": (self.lived, lambda now: ("cli", "recovery-codes", "alice"), {0}),
            "disable-force": (self.lived, lambda now: ("cli", "disable", "--force", "alice"),
                              {0, 3}),
            "first-enroll": (self.empty, lambda now: ("cli", "enroll", "--no-qr", "alice"),
                             {0}),
            # alice of 0.2.0: the first write moves her (users/alice made, records/alice
            # replaced by the note that she moved, state/alice removed).
            "login-code-0.2.0": (self.legacy,
                                 lambda now: ("login", self.simple, "alice", code(now)), None),
            "login-wrong-code-0.2.0": (self.legacy, lambda now: (
                "login", self.simple, "alice", wrong(now)), None),
            "unlock-0.2.0": (self.legacy, lambda now: ("cli", "unlock", "alice"), {0}),
            "enroll-force-0.2.0": (self.legacy, lambda now: (
                "cli", "enroll", "--force", "--no-qr", "alice"), {0}),
            "disable-force-0.2.0": (self.legacy,
                                    lambda now: ("cli", "disable", "--force", "alice"), {0, 3}),
            # A store without users/: the login writes state/alice in place.
            "login-code-0.2.0-store": (self.old_store, lambda now: (
                "login", self.simple, "alice", code(now)), None),
            # No code: no state written, the entry appended straight to last/alice.
            "login-no-code": (self.lived, lambda now: ("login", self.simple, "alice", PW),
                              None),
            # A full batch of pending entries moved first (MOVERS).
            "login-code-move": (self.full, lambda now: ("login", self.keep40, "alice",
                                                        code(now)), None),
            "login-code-move-v1": (self.full_v1, lambda now: ("login", self.keep40, "alice",
                                                              code(now)), None),
            "disable-force-pending": (self.full, lambda now: ("cli", "disable", "--force",
                                                              "alice"), {0, 3}),
        }

    # -- checks ---------------------------------------------------------------------------
    def check_store(self, ctx, before, versions, writer, torn_ext=False):
        """Every file: the version before, or a complete version put in place meanwhile.
        Each user, wherever she is (users/ or the 0.2.0 layout): what a reader gets is the
        user before or a version the writer was putting in place, never nothing (except
        for disable), and a login or unlock never changes the record.  No pending
        last-logins entry is lost, and `mailotp --json last` reads."""
        now = self.w.files()
        self.check_users(ctx, before, now, versions, writer)
        self.check_entries(ctx, before, now, writer, torn_ext)
        for rel in sorted(set(now) | set(before)):
            if is_temp(rel):
                continue  # a killed writer's temporary file: allowed, must not block
            got = now.get(rel)
            allowed = set(versions.get(rel, set()))
            if rel in before:
                allowed.add(before[rel][0])
            if got is None:
                continue  # removed (disable) or never created: a file-level old/new
            if rel.startswith("locks/"):
                # Created empty, never replaced, no data: the size is the order mark of
                # last/KEY (src/store_file.c), at most 4093.
                if got[0] == bytes(len(got[0])) and len(got[0]) <= 4093:
                    continue
            if rel.startswith("users/"):
                self.check_user_file(ctx, rel, got[0], allowed)
                if got[0] not in allowed:
                    type(self).torn["users"] += 1
            elif rel.startswith("state/"):
                self.check_state_file(ctx, rel, got[0], allowed)
                if got[0] not in allowed:
                    type(self).torn["state"] += 1
            elif rel.startswith("last/") and got[0] not in allowed:
                self.check_lastlog(ctx, rel, got[0], allowed, before.get(rel, (None,))[0])
                type(self).torn["last"] += 1
            elif got[0] not in allowed:
                self.fail("%s: %s is torn: neither the old version nor one put in place "
                          "atomically:\n%r" % (ctx, rel, got[0][:300]))
            self.assertEqual(got[1], 0o600, "%s: %s mode" % (ctx, rel))
            if got[2] != 1:
                self.bugs.hit(self, "create-new-crash-leaves-second-link" if rel == "server.key"
                              else "links:" + rel, "%s: %s has %d links" % (ctx, rel, got[2]))

    def check_entries(self, ctx, before, now, writer, torn_ext):
        """The last-logins entries pending in a user file before the writer ran are, after
        the kill, still pending or in last/USER (or both: a kill between the move and the
        slot write shows them twice, which is acceptable), never gone; except that a
        rewrite of the log may trim the oldest to its keep (the random rounds switch keep).
        Then `mailotp --json last alice` reads, and shows what the files hold."""
        for user in USERS:
            log0, pend0 = login_lines(before, user)
            log, pend = login_lines(now, user)
            gone = set(pend0) - set(log) - set(pend)
            if gone:
                try:
                    full = tl.decode_lastlog(now["last/" + user][0])
                except (KeyError, tl.StateFormatError):
                    full = None
                if full is not None and full.version == 2 and len(full.lines) == full.keep \
                        and max(line_fields(l)[0] for l in gone) <= \
                        min(line_fields(l)[0] for l in full.lines):
                    gone = set()  # trimmed by a rewrite to its keep: older than all it kept
                    type(self).batch["trimmed to a new keep"] += 1
            if gone and torn_ext:
                self.bugs.hit(self, "torn-extension-loses-pending",
                              "%s: %d pending entries of %s gone" % (ctx, len(gone), user))
            elif gone:
                self.fail("%s: %d pending last-logins entries of %s lost: %r" % (
                    ctx, len(gone), user, sorted(gone)[:3]))
            if writer in MOVERS and user == "alice" and pend0:
                moved, still = set(pend0) <= set(log), set(pend0) <= set(pend)
                type(self).batch["both" if moved and still else "moved" if moved
                                 else "pending"] += 1
        key = (now.get("last/alice", (None,))[0], now.get("users/alice", (None,))[0])
        if key not in self.last_read:
            r = self.w.run_cli("--json", "last", "alice")
            self.assertEqual(r.returncode, 0, "%s: mailotp last fails after the crash: %s%s" % (
                ctx, r.stdout, r.stderr))
            self.last_read[key] = [json_line(e) for e in json.loads(r.stdout)["logins"]]
            self.assertEqual(self.last_read[key], reader_view(now, "alice")[::-1],
                             "%s: mailotp last does not show the entries of the files" % ctx)

    def check_user_file(self, ctx, rel, data, allowed):
        """Written in place: any byte image, but always 8192 bytes with a valid slot whose
        payload is a record that parses and a state, and that is a whole version."""
        try:
            got = tl.decode_user(data)
        except tl.StateFormatError as e:
            self.fail("%s: %s cannot be read after the crash (%s): %r" % (ctx, rel, e,
                                                                           data[:100]))
        rec, st = got
        self.assertRegex(rec, r"\A# pam_mailotp user record[^\n]*\nversion = 1\n"
                              r"(\w+ = \S+\n)+end\n\Z", "%s: %s: record part" % (ctx, rel))
        self.assertRegex(rec, r"(?m)^status = (pending|enabled)$", ctx)
        self.assertRegex(rec, r"(?m)^secret = [A-Z2-7]+$", ctx)
        self.assertTrue(st == "" or tl.state_complete(st), "%s: %s: state part %r" % (
            ctx, rel, st))
        want = set()
        for v in allowed:
            try:
                want.add(tl.decode_user(v))
            except tl.StateFormatError:
                pass
        if got not in want:
            self.fail("%s: %s decodes to neither the user before nor one the writer was "
                      "putting in place:\n%s%s" % (ctx, rel, rec, st))

    def check_users(self, ctx, before, now, versions, writer):
        """What a reader gets for each user, across users/ and the 0.2.0 layout."""
        for user in USERS:
            try:
                got = user_view(now, user)
            except (tl.StateFormatError, UnicodeDecodeError) as e:
                self.fail("%s: %s cannot be read after the crash: %s" % (ctx, user, e))
            old = user_view(before, user)
            if got is None:
                self.assertTrue(old is None or writer.startswith("disable"),
                                "%s: %s lost her record" % (ctx, user))
                continue
            if old is not None and got.key() == old.key():
                continue
            # A version the writer was putting in place: a user file it renamed or wrote
            # in place; for the 0.2.0 layout, the record or the state it wrote.
            made = set()
            for v in versions.get("users/" + user, ()):
                try:
                    made.add(tl.decode_user(v))
                except tl.StateFormatError:
                    pass
            if got.where == "users":
                self.assertIn(got.key(), made, "%s: %s reads as no version" % (ctx, user))
            else:
                recs = ({old.record} if old else set()) | {
                    v.decode("ascii", "replace") for v in versions.get("records/" + user, ())}
                states = {old.state} if old else set()
                for v in versions.get("state/" + user, ()):
                    try:
                        states.add(tl.decode_state(v))
                    except tl.StateFormatError:
                        pass
                self.assertIn(got.record, recs, "%s: %s: record" % (ctx, user))
                self.assertIn(got.state, states, "%s: %s: state" % (ctx, user))
            if old is not None and (writer.startswith("login") or writer.startswith("unlock")):
                # A state write never changes (or loses) the record.
                self.assertEqual(got.record, old.record, "%s: %s's record changed" % (ctx,
                                                                                    user))

    def check_state_file(self, ctx, rel, data, allowed):
        """Written in place: any byte image, but a reader gets a whole version."""
        try:
            got = tl.decode_state(data, legacy=False)
        except tl.StateFormatError as e:
            self.fail("%s: %s cannot be read after the crash (%s): %r" % (ctx, rel, e,
                                                                           data[:100]))
        want = set()
        for v in allowed:
            try:
                want.add(tl.decode_state(v))
            except tl.StateFormatError:
                pass
        if got not in want:
            self.fail("%s: %s decodes to neither the state before nor one the writer was "
                      "putting in place:\n%s" % (ctx, rel, got))

    def check_lastlog(self, ctx, rel, data, allowed, old):
        """Appended in place: a part line may stay; what a reader gets is a whole version,
        or, when a move's append of several lines was torn, the log before followed by the
        first lines of that append (the batch is still pending in the user file then: they
        show twice, none is lost)."""
        try:
            log = tl.decode_lastlog(data)
        except tl.StateFormatError as e:
            self.fail("%s: %s has no valid header after the crash (%s): %r" % (
                ctx, rel, e, data[:300]))
        lines, entries, appended = set(), [], []
        for v in allowed:
            try:
                a = tl.decode_lastlog(v)
            except tl.StateFormatError:
                continue
            lines.update(a.lines)
            entries.append(a.entries)
            if old is not None and v.startswith(old) and v != old:
                appended.append(a)
        stray = [l for l in log.lines if l not in lines]
        self.assertEqual(stray, [], "%s: %s has lines no writer wrote" % (ctx, rel))
        if log.entries in entries:
            return
        # A torn append: the bytes before, then a prefix of what was appended.
        self.assertTrue(old is not None and data.startswith(old) and [
            a for a in appended if a.lines[:len(log.lines)] == log.lines],
            "%s: %s reads as no version of the log" % (ctx, rel))
        type(self).torn["part of a batch"] += 1

    def store_reads_and_logins_work(self, ctx, now, replay_at):
        """The store reads; the code of the time the writer ran (replay_at) is refused as a
        replay exactly when its step is stored where a reader looks (so a killed login's
        code never works twice, wherever the crash left alice), else accepted; and the
        next login (at now, a later step) works."""
        w = self.w
        files = w.files()
        key = (now, replay_at, state_key(files))
        if key in self.proven:
            return
        status = {}
        for user in USERS:
            r = w.run_cli("--json", "status", user, now=now)
            if r.returncode != 0:
                self.fail("%s: status %s fails after the crash: %s" % (ctx, user, r.stdout))
            status[user] = json.loads(r.stdout)["status"]
        if status["alice"] == "enabled":
            view = user_view(files, "alice")
            used = int(view.fields["last_step"]) >= replay_at // 30
            again = PW + w.code_at("alice", replay_at)
            r = w.run_login(self.simple, "alice", again, now=replay_at)
            if r.result == "PAM_MAXTRIES":
                w.run_cli("unlock", "alice", now=replay_at)
                r = w.run_login(self.simple, "alice", again, now=replay_at)
            text = "\n".join(r.log)
            if used:
                self.assertEqual(r.result, "PAM_AUTH_ERR", "%s: a stored step's code "
                                 "accepted again (%s):\n%s" % (ctx, view, text))
                self.assertIn("reason=replayed-code", text, ctx)
                type(self).again["replay refused"] += 1
            else:
                self.assertEqual(r.result, "PAM_SUCCESS", "%s: an unused code refused (%s):"
                                 "\n%s" % (ctx, view, text))
                type(self).again["unused code accepted"] += 1
        if status["alice"] == "enabled":
            answer = PW + w.code_at("alice", now)
        else:
            answer = PW  # 2FA gone (disable killed after removing the record): plain password
        r = w.run_login(self.simple, "alice", answer, now=now)
        if r.result == "PAM_MAXTRIES":
            w.run_cli("unlock", "alice", now=now)
            r = w.run_login(self.simple, "alice", answer, now=now)
        self.assertEqual(r.result, "PAM_SUCCESS", "%s: the next login (%s) fails:\n%s" % (
            ctx, status["alice"], "\n".join(r.log)))
        self.proven.add(key)  # keyed on the store before this login

    def rerun_works(self, ctx, spec, exits, now):
        if exits is None:
            return
        r = self.w.run_spec(spec(now), now=now)
        if r.returncode not in exits:
            key = "create-new-crash-leaves-second-link" if "hard link" in (
                r.stdout + r.stderr) else None
            msg = "%s: the writer fails when run again (%d): %s%s" % (
                ctx, r.returncode, r.stdout, r.stderr)
            if key:
                self.bugs.hit(self, key, msg)
            else:
                self.fail(msg)

    # -- exhaustive -----------------------------------------------------------------------
    def test_1_kill_at_every_point(self):
        w = self.w
        summary = []
        for name, (snap, spec, exits) in self.writers().items():
            w.restore(snap)
            w.take_versions()
            clean = w.run_spec(spec(T), T, versions=True)
            self.assertFalse(clean.killed, name)
            # Where a slot write's extension (its pending last-logins entries) lies: a tear
            # 20 bytes into it leaves the payload whole.
            in_ext = {}
            for rel, vs in w.take_versions().items():
                for v in vs:
                    if len(v) != tl.SLOT_FILE_SIZE:
                        continue
                    for slot in tl.state_slots(v):
                        if slot is not None and slot.ext is not None:
                            in_ext.setdefault(rel, set()).add(
                                tl.SLOT_HEADER + len(slot.payload) + 20)
            points = [c for c in clean.trace if c.n > 0 and mutating(c)]
            self.assertTrue(points, "%s changes nothing?" % name)
            kills = [("kill", c, None) for c in points] + [("kill-after", points[-1], None)]
            # Torn in-place writes: a state slot (pwrite) or a last-logins append.
            kills += [("kill", c, k) for c in points
                      for k in TEAR + tuple(sorted(in_ext.get(c.path, ())))
                      if c.func == "pwrite" or (c.func == "write" and c.path.startswith("last/")
                                                and not is_temp(c.path))]
            summary.append("%s=%d" % (name, len(kills)))
            for action, call, part in kills:
                w.restore(snap)
                before = w.files()
                w.take_versions()
                fault = {"call": call.func, "nth": call.n, "action": action}
                if part is not None:
                    fault["partial"] = part
                r = w.run_spec(spec(T), T, versions=True, fault=fault)
                type(self).kills += 1
                ctx = "%s killed %s %s #%d (%s)" % (
                    name, "before" if action == "kill" and part is None else
                    "after %d bytes of" % part if part is not None else "after",
                    call.func, call.n, call.path)
                self.assertTrue(r.killed, "%s: not killed (rc %d)" % (ctx, r.returncode))
                self.check_store(ctx, before, w.take_versions(), name,
                                 torn_ext=call.func == "pwrite" and part not in TEAR + (None,))
                self.rerun_works(ctx, spec, exits, T)
                self.store_reads_and_logins_work(ctx, T + 30, T)
        sys.stderr.write("\nkill points: %s\ntorn in-place files read back whole: %s\n"
                         "the writer's code again: %s\nmoves killed: %s\n" % (
                             " ".join(summary), self.torn, self.again, self.batch))
        # The torn kills really left torn slots and part lines (else they prove nothing).
        self.assertGreater(self.torn["users"], 0)
        self.assertGreater(self.torn["state"], 0)
        self.assertGreater(self.torn["last"], 0)
        self.assertGreater(self.torn["part of a batch"], 0)
        self.assertGreater(self.again["replay refused"], 0)
        self.assertGreater(self.again["unused code accepted"], 0)
        # Kills in a move left the batch in each place a crash can leave it.
        for where in ("moved", "pending", "both"):
            self.assertGreater(self.batch[where], 0, where)

    def test_1b_kill_in_the_middle_of_a_move(self):
        """A 0.2.0 user's first write killed between its steps: after users/alice is in
        place but before records/alice says moved, and after that but before state/alice
        is removed.  users/alice wins: the record as it was, the new state; the killed
        login's code is a replay, the next code works once; status reads; disable
        removes every file of hers."""
        w = self.w
        code = lambda now: PW + w.code_at("alice", now)  # noqa: E731
        for name, spec in (("login", ("login", self.simple, "alice", code(T))),
                           ("unlock", ("cli", "unlock", "alice"))):
            w.restore(self.legacy)
            legacy = w.files()
            old = user_view(legacy, "alice")
            clean = w.run_spec(spec, T)
            calls = [c for c in clean.trace if c.n > 0]
            made = next(c for c in calls if c.func == "renameat" and c.path == "users/alice")
            moved = next(c for c in calls if c.func == "renameat" and c.path == "records/alice")
            gone = next(c for c in calls if c.func == "unlinkat" and c.path == "state/alice")
            new_state = user_view(w.files(), "alice").state
            for action, call, left in (("kill-after", made, "0.2.0 record"),
                                       ("kill", moved, "0.2.0 record"),
                                       ("kill-after", moved, "moved note"),
                                       ("kill", gone, "moved note")):
                ctx = "%s of a 0.2.0 user, %s %s #%d (%s)" % (name, action, call.func, call.n,
                                                              call.path)
                w.restore(self.legacy)
                r = w.run_spec(spec, T, fault={"call": call.func, "nth": call.n,
                                               "action": action})
                type(self).kills += 1
                self.assertTrue(r.killed, ctx)
                now = w.files()
                view = user_view(now, "alice")
                self.assertEqual(view.where, "users", ctx)
                self.assertEqual((view.record, view.state), (old.record, new_state), ctx)
                self.assertEqual(now["records/alice"][0],
                                 legacy["records/alice"][0] if left == "0.2.0 record"
                                 else tl.MOVED_RECORD, ctx)
                self.assertEqual(now["state/alice"], legacy["state/alice"], ctx)
                # Killed before its rename: the note's temporary file stays, harmlessly.
                self.assertEqual([rel for rel in now if is_temp(rel)],
                                 [rel for rel in now if is_temp(rel) and action == "kill"
                                  and call is moved and rel.startswith("records/.alice.")],
                                 ctx)
                st = w.jcli("status", "alice", now=T)
                self.assertEqual((st["status"], st["state"]), ("enabled", "ok"), ctx)
                if name == "login":
                    r = w.run_login(self.simple, "alice", code(T), now=T)
                    self.assertEqual(r.result, "PAM_AUTH_ERR", ctx)
                    self.assertIn("reason=replayed-code", "\n".join(r.log), ctx)
                r = w.run_login(self.simple, "alice", code(T + 30), now=T + 30)
                self.assertEqual(r.result, "PAM_SUCCESS", "%s\n%s" % (ctx, "\n".join(r.log)))
                r = w.run_login(self.simple, "alice", code(T + 30), now=T + 30)
                self.assertEqual(r.result, "PAM_AUTH_ERR", ctx)
                self.assertEqual(w.run_cli("disable", "--force", "alice", now=T + 30)
                                 .returncode, 0, ctx)
                left_files = [rel for rel in w.files() if rel.split("/")[0] in (
                    "users", "records", "state", "recovery") and rel.endswith("/alice")]
                self.assertEqual(left_files, [], ctx)
                self.assertEqual(w.run_login(self.simple, "alice", PW, now=T + 30).result,
                                 "PAM_SUCCESS", ctx)

    # -- random ---------------------------------------------------------------------------
    def test_2_random_sigkill(self):
        """A few hundred writers on one evolving store, SIGKILLed after a random delay."""
        w = self.w
        rng = random.Random(int(os.environ.get("MAILOTP_CRASH_SEED", "20240605")))
        rounds = int(os.environ.get("MAILOTP_CRASH_ROUNDS", "250"))
        writers = self.writers()
        # Not the ones that take 2FA away for good: the logins would have nothing to do.
        # Nor the 0.2.0 ones: they start from other stores (and the same writers are here).
        # Of the movers, login-code-move only (login-code-move-v1 is the same login once its
        # snapshot is not used): with its keep of 40 against the others' 20, it moves the
        # pending entries whenever it follows another login, and they move back after it.
        names = [n for n in writers if n not in ("first-enroll", "disable-force",
                                                 "enroll-force", "disable-force-pending",
                                                 "login-code-move-v1") and "0.2.0" not in n]
        w.restore(self.lived)
        # How long each writer takes undisturbed (the kill delay is drawn over this).
        dur = {}
        for name in names:
            t0 = time.monotonic()
            w.run_spec(writers[name][1](T), T)
            dur[name] = time.monotonic() - t0
        w.restore(self.lived)
        progress = {"before any store call": 0, "mid-writer": 0, "after the last change": 0}
        batch0 = dict(self.batch)
        now = T
        for i in range(rounds):
            now += 30  # a fresh code every round
            name = rng.choice(names)
            before = w.files()
            w.take_versions()
            cmd, stdin, env = w.spec_cmd(writers[name][1](now), now, versions=True)
            w.clear_trace()
            env_run = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, env=env, text=True)
            try:
                env_run.stdin.write(stdin)
                env_run.stdin.close()
            except BrokenPipeError:
                pass
            delay = rng.uniform(0.0, dur[name])
            time.sleep(delay)
            try:
                env_run.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            env_run.wait()
            type(self).kills += 1
            trace = read_trace(w.tracefile)
            changes = [c for c in trace if c.n > 0 and mutating(c)]
            if not trace:
                progress["before any store call"] += 1
            elif env_run.returncode == -9 and changes:
                progress["mid-writer"] += 1
            else:
                progress["after the last change"] += 1
            ctx = "round %d: %s killed after %.0f us (%d store calls made)" % (
                i, name, delay * 1e6, len(trace))
            self.check_store(ctx, before, w.take_versions(), name)
            if i % 10 == 9 or i == rounds - 1:
                self.store_reads_and_logins_work(ctx, now + 15, now)
        temps = [rel for rel in w.files() if is_temp(rel)]
        sys.stderr.write("\nrandom SIGKILL: %d rounds, %s; %d stale temporary files left, "
                         "logins still work; kills in a move: %s\n" % (rounds, ", ".join(
                             "%s %d" % kv for kv in progress.items()), len(temps), {
                                 k: v - batch0[k] for k, v in self.batch.items()}))
        self.assertGreater(progress["mid-writer"], rounds // 20,
                           "too few kills landed inside a writer to mean anything")

    # -- the protocol ------------------------------------------------------------------
    def test_3_durability_protocol(self):
        """fsync(temp) before rename/link, fsync(dir) after, for every durable file."""
        w = self.w
        checked = slots = moves = moved = 0
        for name, (snap, spec, exits) in self.writers().items():
            w.restore(snap)
            r = w.run_spec(spec(T), T)
            calls = [c for c in r.trace if c.n > 0]
            for i, c in enumerate(calls):
                if c.func not in ("rename", "renameat", "renameat2", "linkat"):
                    continue
                area = c.path.split("/")[0]
                if area not in DURABLE_AREAS:
                    continue
                checked += 1
                d, _, base = c.path.rpartition("/")
                prefix = (d + "/" if d else "") + "." + base + "."
                ours = [k for k in calls[:i] if k.path.startswith(prefix)]
                self.assertTrue(ours, "%s: no temp file before %r" % (name, c))
                last_write = max((k for k, x in enumerate(ours) if x.func == "write"),
                                 default=-1)
                synced = [x for x in ours[last_write + 1:] if x.func == "fsync"]
                self.assertTrue(synced, "%s: %s put in place without fsync of its data "
                                        "after the last write" % (name, c.path))
                dirpath = d if d else "."
                after = [k for k in calls[i + 1:] if k.func == "fsync" and k.path == dirpath
                         and k.mode == "d"]
                self.assertTrue(after, "%s: directory of %s not fsynced after the %s" % (
                    name, c.path, c.func))
            # In-place slot writes: flushed before the descriptor is closed (and so before
            # the writer reports anything), nothing written after the flush.
            for i, c in enumerate(calls):
                if c.func != "pwrite":
                    continue
                self.assertEqual(c.path.split("/")[0],
                                 "state" if snap is self.old_store else "users",
                                 "%s: pwrite outside the user file: %r" % (name, c))
                slots += 1
                rest = calls[i + 1:]
                end = next((k for k, x in enumerate(rest) if x.func == "close"
                            and x.path == c.path), len(rest))
                flush = [k for k, x in enumerate(rest[:end]) if x.path == c.path
                         and x.func in ("fdatasync", "fsync")]
                self.assertTrue(flush, "%s: slot write of %s closed without fdatasync" % (
                    name, c.path))
                self.assertFalse([x for x in rest[flush[-1] + 1:end] if x.func in MUTATING],
                                 "%s: %s written after its flush" % (name, c.path))
                self.assertLess(end, len(rest), "%s: %s never closed" % (name, c.path))
            if name in MOVERS:
                moved += self.check_move_protocol(name, calls)
            renamed = [c.path for c in calls if c.func in ("rename", "renameat", "renameat2",
                                                           "linkat")]
            # The user file of a user who has one is never renamed again: written in place.
            if snap is self.lived:
                self.assertNotIn("users/alice", renamed,
                                 "%s: users/alice replaced, not written in place" % name)
            # A store of 0.2.0 without users/: state/alice in place, nothing made in users/.
            if snap is self.old_store:
                self.assertNotIn("state/alice", renamed, name)
                self.assertFalse([c for c in calls if c.path.startswith("users")
                                  and mutating(c)], name)
                self.assertFalse(os.path.exists(os.path.join(w.store, "users")), name)
            # A move: users/alice in place (and its directory flushed) before records/alice
            # says moved, and state/alice removed only after that.
            if snap is self.legacy and "users/alice" in renamed:
                moves += 1
                at = {c.path: i for i, c in enumerate(calls)
                      if c.func in ("renameat", "unlinkat") and c.path in (
                          "users/alice", "records/alice", "state/alice")}
                if name.startswith("disable"):
                    self.fail("%s: disable made users/alice" % name)
                self.assertEqual(renamed.count("users/alice"), 1, name)
                self.assertIn("records/alice", at, "%s: records/alice not marked moved" % name)
                self.assertLess(at["users/alice"], at["records/alice"], name)
                self.assertTrue([c for c in calls[at["users/alice"] + 1:at["records/alice"]]
                                 if c.func == "fsync" and c.path == "users" and c.mode == "d"],
                                "%s: users/ not flushed before records/alice" % name)
                if "state/alice" in at:
                    self.assertLess(at["records/alice"], at["state/alice"], name)
        self.assertGreaterEqual(checked, 9)   # the writers' renames and links
        self.assertGreaterEqual(slots, 5)     # the writers' slot writes
        self.assertEqual(moves, 4)            # the 0.2.0 writers but disable
        self.assertEqual(moved, len(MOVERS))  # each moves its batch durably, first
        sys.stderr.write("\ndurability protocol: %d renames/links, %d slot writes and %d "
                         "moves of pending entries checked\n" % (checked, slots, moved))

    def check_move_protocol(self, name, calls):
        """A move of pending last-logins entries is durable before the user file drops
        them: the append to last/alice is followed by its fdatasync (a rewrite: fsync of
        the temporary file, rename, fsync of last/), all before the slot write (pwrite) of
        users/alice, or before disable removes anything of alice's."""
        drop = next((i for i, c in enumerate(calls) if c.path.startswith("users/alice")
                     and c.func in ("pwrite", "unlinkat", "renameat")), None)
        self.assertIsNotNone(drop, "%s: users/alice neither written nor removed" % name)
        head = calls[:drop]
        appends = [i for i, c in enumerate(head) if c.func == "write"
                   and c.path == "last/alice"]
        renames = [i for i, c in enumerate(head) if c.func == "renameat"
                   and c.path == "last/alice"]
        self.assertEqual(len(appends) + len(renames), 1,
                         "%s: not one append or rewrite of last/alice before users/alice "
                         "drops the batch: %r" % (name, calls))
        if appends:
            self.assertTrue([c for c in head[appends[0] + 1:] if c.func == "fdatasync"
                             and c.path == "last/alice"],
                            "%s: the moved batch is not flushed before the slot write" % name)
        else:
            i = renames[0]
            self.assertTrue([c for c in head[:i] if c.func == "fsync"
                             and c.path.startswith("last/.alice.")],
                            "%s: the rewritten log is not flushed before its rename" % name)
            self.assertTrue([c for c in head[i + 1:] if c.func == "fsync" and c.path == "last"
                             and c.mode == "d"],
                            "%s: last/ not flushed before the slot write" % name)
        return 1

    def test_zz_known_bugs(self):
        if STRICT:
            self.skipTest("strict mode")
        if self.kills < 100:
            self.skipTest("only meaningful after the kill tests ran")
        self.bugs.report(self, list(KNOWN_BUGS))


if __name__ == "__main__":
    unittest.main()
