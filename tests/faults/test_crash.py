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
    reader gets must be those of the log before or of one of those versions.

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
    state/KEY removed; and a login in a 0.2.0 store without users/;
  - exhaustive: for each writer, a SIGKILL raised by the shim just before each
    call that changes the store and just after the last one (every distinct
    state a crash can leave), and for every pwrite (state slot) and append
    write (last-logins log) also a torn one: the first 1, 24, 100 or 2048
    bytes written, then the kill; and a move killed right after users/KEY is
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
    page cache, so this is what stands for power loss).
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

from faultlib import (PW, STRICT, T, FaultWorld, KnownBugs, is_temp, read_trace, require_env,
                      state_key, user_view)
import mailotp_testlib as tl  # noqa: E402  (faultlib puts tests/pam on the path)

KNOWN_BUGS = {}

MUTATING = {"write", "pwrite", "fsync", "fdatasync", "ftruncate", "fchmod", "rename", "renameat",
            "renameat2", "linkat", "unlinkat", "mkdirat"}
TEAR = (1, 24, 100, 2048)  # bytes of a torn pwrite/append before the kill
DURABLE_AREAS = ("users", "records", "state", "apppw", "recovery", "server.key")
USERS = ("alice", "carol")


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
        w.enable_at("alice", T - 90)
        cls.app_pw = w.jcli("app-password", "add", "alice", "phone", now=T - 90)["password"]
        cls.recovery = w.jcli("recovery-codes", "alice", now=T - 90)["codes"]
        r = w.run_cli("enroll", "--no-qr", "carol", now=T - 90)
        cls.carol = r.stdout.split("secret=")[1].split("&")[0].split()[0]
        w.secrets["carol"] = cls.carol
        cls.simple = w.simple_service("alice", name="imap")
        cls.hardened = w.hardened_service("alice", name="imap-hard")
        assert w.run_login(cls.simple, "alice", PW + w.code_at("alice", T - 60),
                           now=T - 60).result == "PAM_SUCCESS"
        cls.lived = w.snapshot("lived")
        # The same store with alice in the layout of 0.2.0 (records/alice, state/alice):
        # her first write moves her into users/alice ...
        tl.make_legacy(w.store, "alice")
        cls.legacy = w.snapshot("legacy")
        # ... and a store of 0.2.0 not yet opened by the 0.3.0 CLI (no users/): the module
        # writes state/alice in place, as 0.2.0 did.
        tl.make_legacy(w.store, "carol")
        os.rmdir(os.path.join(w.store, "users"))
        cls.old_store = w.snapshot("old-store")
        w.restore(cls.lived)
        cls.bugs = KnownBugs(KNOWN_BUGS)
        cls.kills = 0
        # byte images no version had, read back whole: the user file and the 0.2.0 state
        # (slot writes in place), the last-logins log (appends)
        cls.torn = {"users": 0, "state": 0, "last": 0}
        cls.again = {"replay refused": 0, "unused code accepted": 0}
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
        }

    # -- checks ---------------------------------------------------------------------------
    def check_store(self, ctx, before, versions, writer):
        """Every file: the version before, or a complete version put in place meanwhile.
        Each user, wherever she is (users/ or the 0.2.0 layout): what a reader gets is the
        user before or a version the writer was putting in place, never nothing (except
        for disable), and a login or unlock never changes the record."""
        now = self.w.files()
        self.check_users(ctx, before, now, versions, writer)
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
                allowed.add(b"")  # lock files are created empty and never replaced
            if rel.startswith("users/"):
                self.check_user_file(ctx, rel, got[0], allowed)
                if got[0] not in allowed:
                    type(self).torn["users"] += 1
            elif rel.startswith("state/"):
                self.check_state_file(ctx, rel, got[0], allowed)
                if got[0] not in allowed:
                    type(self).torn["state"] += 1
            elif rel.startswith("last/") and got[0] not in allowed:
                self.check_lastlog(ctx, rel, got[0], allowed)
                type(self).torn["last"] += 1
            elif got[0] not in allowed:
                self.fail("%s: %s is torn: neither the old version nor one put in place "
                          "atomically:\n%r" % (ctx, rel, got[0][:300]))
            self.assertEqual(got[1], 0o600, "%s: %s mode" % (ctx, rel))
            if got[2] != 1:
                self.bugs.hit(self, "create-new-crash-leaves-second-link" if rel == "server.key"
                              else "links:" + rel, "%s: %s has %d links" % (ctx, rel, got[2]))

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

    def check_lastlog(self, ctx, rel, data, allowed):
        """Appended in place: a part line may stay; what a reader gets is a whole version."""
        try:
            log = tl.decode_lastlog(data)
        except tl.StateFormatError as e:
            self.fail("%s: %s has no valid header after the crash (%s): %r" % (
                ctx, rel, e, data[:300]))
        lines, entries = set(), []
        for v in allowed:
            try:
                a = tl.decode_lastlog(v)
            except tl.StateFormatError:
                continue
            lines.update(a.lines)
            entries.append(a.entries)
        stray = [l for l in log.lines if l not in lines]
        self.assertEqual(stray, [], "%s: %s has lines no writer wrote" % (ctx, rel))
        self.assertIn(log.entries, entries, "%s: %s reads as no version of the log" % (
            ctx, rel))

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
            points = [c for c in clean.trace if c.n > 0 and mutating(c)]
            self.assertTrue(points, "%s changes nothing?" % name)
            kills = [("kill", c, None) for c in points] + [("kill-after", points[-1], None)]
            # Torn in-place writes: a state slot (pwrite) or a last-logins append.
            kills += [("kill", c, k) for c in points for k in TEAR
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
                self.check_store(ctx, before, w.take_versions(), name)
                self.rerun_works(ctx, spec, exits, T)
                self.store_reads_and_logins_work(ctx, T + 30, T)
        sys.stderr.write("\nkill points: %s\ntorn in-place files read back whole: %s\n"
                         "the writer's code again: %s\n" % (" ".join(summary), self.torn,
                                                            self.again))
        # The torn kills really left torn slots and part lines (else they prove nothing).
        self.assertGreater(self.torn["users"], 0)
        self.assertGreater(self.torn["state"], 0)
        self.assertGreater(self.torn["last"], 0)
        self.assertGreater(self.again["replay refused"], 0)
        self.assertGreater(self.again["unused code accepted"], 0)

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
        names = [n for n in writers if n not in ("first-enroll", "disable-force",
                                                 "enroll-force") and "0.2.0" not in n]
        w.restore(self.lived)
        # How long each writer takes undisturbed (the kill delay is drawn over this).
        dur = {}
        for name in names:
            t0 = time.monotonic()
            w.run_spec(writers[name][1](T), T)
            dur[name] = time.monotonic() - t0
        w.restore(self.lived)
        progress = {"before any store call": 0, "mid-writer": 0, "after the last change": 0}
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
                         "logins still work\n" % (rounds, ", ".join(
                             "%s %d" % kv for kv in progress.items()), len(temps)))
        self.assertGreater(progress["mid-writer"], rounds // 20,
                           "too few kills landed inside a writer to mean anything")

    # -- the protocol ------------------------------------------------------------------
    def test_3_durability_protocol(self):
        """fsync(temp) before rename/link, fsync(dir) after, for every durable file."""
        w = self.w
        checked = slots = moves = 0
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
        sys.stderr.write("\ndurability protocol: %d renames/links and %d slot writes "
                         "checked\n" % (checked, slots))

    def test_zz_known_bugs(self):
        if STRICT:
            self.skipTest("strict mode")
        if self.kills < 100:
            self.skipTest("only meaningful after the kill tests ran")
        self.bugs.report(self, list(KNOWN_BUGS))


if __name__ == "__main__":
    unittest.main()
