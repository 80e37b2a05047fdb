# SPDX-License-Identifier: GPL-2.0-or-later
"""Full disk: the store on a tiny tmpfs, filled up.

The user file (record + state, users/KEY) is rewritten in place (one slot of
a file that exists already: no new block), so on a full disk what needs only
the state or the record of an existing user still works; what needs a new
file or a new version of one through a temporary file fails closed.  Since
0.3.2 the last-logins entry of a login that writes the state rides in that
same slot write (pending, in the slot's extension), so on a full disk it is
kept too; the entries are moved to the log in batches.

  - completely full: a right code (simple and hardened stack) is accepted and
    its step stored (the same string again is a replay); a wrong code is
    refused and counted (the count read back with the independent decoder);
    their entries are kept in the user file (the log untouched, no warning,
    `mailotp --json last` shows them); `mailotp unlock` works; `mailotp
    confirm` of a pending user works (her state joins her user file, in
    place); logins that need no state (an application password, a user
    without 2FA) still work.  An entry written straight to the log (a replay,
    an application password, no code) is appended while the log's last page
    has room, then left out with a warning naming ENOSPC, the result the same.
    What needs a new file fails closed with reason io-error naming ENOSPC and
    changes nothing: a recovery code (its list is replaced), a login of a user
    still in the layout of 0.2.0 (here with the state file of 0.1.0: the login
    must make his users/ file), and the mailotp writes that make files
    (app-password add, recovery-codes, enroll of a new user): exit 4.  The
    user files stay the same inode, 8192 bytes; no other byte of any stored
    file changes and no temporary file is left; after room is made, the
    refused recovery code and the 0.2.0 user's code work (and move him);
  - one free page, a log of several pages: when the pending entries must be
    moved with a rewrite (another keep), the rewrite does not fit: the login
    succeeds, the new replay step is stored (the same code is then refused as
    a replay), the log is left as it was and a warning says the pending
    entries are lost, naming ENOSPC; a plain append fits and is made, and so
    does the move of a full batch (one append);
  - completely full, the log's last page full: the move of a full batch
    fails; the login succeeds all the same, its own entry is pending, the
    batch is lost and a warning says so.

When tmpfs cannot be mounted here (no root, a container), the same scenarios
run with ENOSPC injected by the shim on every write(2) (only on writes under
DIR/last/ for the second and the last one), pwrite in place being left alone
as a full disk leaves it, and the test output says so
(MAILOTP_FULLDISK_NO_TMPFS=1 forces that path).
"""
import errno
import hashlib
import os
import subprocess
import sys
import unittest

from faultlib import (LOST, MODULE, NOT_WRITTEN, PENDING_MAX, PW, T, FaultWorld, is_temp,
                      json_line, line_fields, login_lines, make_legacy, require_env)
import mailotp_testlib as tl  # noqa: E402  (faultlib puts tests/pam on the path)

PAGE = os.sysconf("SC_PAGE_SIZE")
SIZE = 256 * 1024  # the tmpfs: 64 pages, plenty for one store


class FullDisk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_env(cls)
        w = cls.w = FaultWorld(module_args="last_logins=200")
        cls.mounted = False
        if os.environ.get("MAILOTP_FULLDISK_NO_TMPFS") == "1":  # to test the fallback
            res = subprocess.CompletedProcess([], 1, "", "MAILOTP_FULLDISK_NO_TMPFS=1")
        else:
            res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % SIZE,
                                  "mailotp-fulldisk", w.store], capture_output=True, text=True)
        if res.returncode == 0:
            cls.mounted = True
            sys.stderr.write("\nfull disk: store on a %d KiB tmpfs at %s\n" % (
                SIZE // 1024, w.store))
        else:
            sys.stderr.write("\nfull disk: tmpfs cannot be mounted here (%s); using ENOSPC "
                             "injected by faultshim.so instead\n" % res.stderr.strip())
        try:
            cls.setup_store()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def setup_store(cls):
        w = cls.w
        w.enable_at("alice", T - 300)
        cls.app_pw = w.jcli("app-password", "add", "alice", "phone", now=T - 300)["password"]
        cls.recovery = w.jcli("recovery-codes", "alice", now=T - 300)["codes"]
        w.set_password("bob", "bobpw")
        cls.simple = w.simple_service("alice", name="imap")
        cls.hardened = w.hardened_service("alice", name="imap-hard")
        cls.bob = w.simple_service("bob", name="imap-bob")
        # dave: 2FA, still in the layout of 0.2.0 (records/dave, state/dave), his state
        # even the text file of 0.1.0: a login must move him into a new users/dave.
        w.enable_at("dave", T - 300, password="davepw")
        cls.dave = w.simple_service("dave", name="imap-dave")
        cls.dave_record = w.record_text("dave")
        make_legacy(w.store, "dave")
        p = os.path.join(w.store, "state", "dave")
        legacy = tl.read_state(p).encode()
        with open(p + ".harness", "wb") as f:
            f.write(legacy)
        os.chmod(p + ".harness", 0o600)
        os.rename(p + ".harness", p)
        # erin: enrolled, not confirmed yet (confirming creates her state).
        r = w.run_cli("enroll", "--no-qr", "erin", now=T - 300)
        assert r.returncode == 0, r.stderr
        w.secrets["erin"] = r.stdout.split("secret=")[1].split("&")[0].split()[0]
        # The log rewritten with another keep (last_logins is 200 in the other services).
        cls.keep199 = w.service("imap-keep199", "auth [success=done ignore=ignore default=die] "
                                "%s dir=%s conf=%s last_logins=199\n" % (MODULE, w.store, w.conf)
                                + w.expect_line("alice"))
        # A last-logins log of several pages: logins with the application password.
        last = os.path.join(w.store, "last", "alice")
        for n in range(200):
            if os.path.exists(last) and os.path.getsize(last) > PAGE + 256:
                break
            r = w.run_login(cls.simple, "alice", cls.app_pw, now=T - 270)
            assert r.result == "PAM_SUCCESS", r.stderr
        assert w.run_login(cls.simple, "alice", PW + w.code_at("alice", T - 240),
                           now=T - 240).result == "PAM_SUCCESS"
        cls.setup_logins = n

    def setUp(self):
        self.fillers = []
        self.addCleanup(self.unfill)

    @classmethod
    def tearDownClass(cls):
        if not hasattr(cls, "w"):
            return
        try:
            if cls.mounted:
                res = subprocess.run(["umount", cls.w.store], capture_output=True, text=True)
                if res.returncode != 0:
                    subprocess.run(["umount", "-l", cls.w.store], capture_output=True)
        finally:
            cls.w.cleanup()

    # -- filling -----------------------------------------------------------------------
    def fill(self, leave_pages=0):
        """Fill the tmpfs with one-page files (outside the store's layout), then free
        `leave_pages` of them."""
        if not self.mounted:
            return
        w = self.w
        i = len(self.fillers)
        while True:
            p = os.path.join(w.store, "filler-%04d" % i)
            try:
                with open(p, "wb") as f:
                    f.write(b"\0" * PAGE)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
                if os.path.exists(p):
                    os.unlink(p)
                break
            self.fillers.append(p)
            i += 1
        for _ in range(leave_pages):
            os.unlink(self.fillers.pop())
        st = os.statvfs(w.store)
        self.assertEqual(st.f_bavail * st.f_frsize // PAGE, leave_pages, "free pages")

    def unfill(self):
        for p in self.fillers:
            os.unlink(p)
        del self.fillers[:]

    def enospc(self, match=None):
        """Without tmpfs: every write (under `match`) fails with ENOSPC."""
        if self.mounted:
            return None
        f = {"call": "write", "nth": 1, "persist": 1, "errno": "ENOSPC"}
        if match:
            f["match"] = match
        return f

    def hashes(self):
        return {rel: hashlib.sha256(data).hexdigest()
                for rel, (data, mode, nlink) in self.w.files().items()
                if not rel.startswith("filler-")}

    def read(self, rel):
        with open(os.path.join(self.w.store, rel), "rb") as f:
            return f.read()

    def ino(self, rel):
        return os.stat(os.path.join(self.w.store, rel)).st_ino

    def state(self, user="alice"):
        return tl.state_fields(tl.read_user(self.w.store, user)[1])

    def check_log_appended_or_warned(self, ctx, old, run):
        """The last-logins log after a login whose entry is written straight to it (no state
        written: no code, a replay, an application password): one line appended (its page
        had room), or left as it was with a warning naming ENOSPC.  True when warned."""
        new = self.read("last/alice")
        if new == old:
            self.assertRegex("\n".join(run.log), r"(?m)^4 last-logins log not written: .*No "
                                                  r"space left on device", ctx)
            return True
        self.assertTrue(new.startswith(old), "%s: the log was not appended to" % ctx)
        self.assertEqual(new[len(old):].count(b"\n"), 1, ctx)
        self.assertEqual(len(tl.decode_lastlog(new).lines),
                         len(tl.decode_lastlog(old).lines) + 1, ctx)
        self.assertFalse([l for l in run.log if "last-logins" in l], ctx)
        return False

    def pending(self):
        return login_lines(self.w.files(), "alice")[1]

    def last_shows(self, ctx, when, result, reason):
        """`mailotp --json last alice` shows an entry of time `when` with that outcome."""
        got = [(line_fields(json_line(e))[0], e["result"], e["reason"])
               for e in self.w.jcli("last", "alice", now=when)["logins"]]
        self.assertIn((when, result, reason), got, "%s: not shown by mailotp last" % ctx)

    def check_entry_kept_in_slot(self, ctx, old_log, old_pending, run, when, result, reason):
        """A login that writes the state keeps its entry in that slot write: in place, so
        on a full disk too.  The log is not touched, nothing is warned, the entry is
        pending in users/alice and mailotp last shows it."""
        self.assertEqual(self.read("last/alice"), old_log, "%s: the log was written" % ctx)
        self.assertFalse([l for l in run.log if "last-logins" in l], "%s: %r" % (ctx, run.log))
        pend = self.pending()
        self.assertEqual(pend[:-1], old_pending, "%s: pending entries changed" % ctx)
        self.assertEqual(line_fields(pend[-1])[:2], (when, result), ctx)
        self.assertEqual(line_fields(pend[-1])[5], reason, ctx)
        self.last_shows(ctx, when, result, reason)

    def fill_batch(self, svc, start):
        """Code logins (at start, start + 30, ...) until a full batch of entries is pending;
        in place, so on a full disk too.  Returns the time of the next step."""
        now = start
        for _ in range(2 * PENDING_MAX + 2):
            if len(self.pending()) == PENDING_MAX:
                return now
            r = self.login(svc, "alice", PW + self.w.code_at("alice", now), now)
            self.assertEqual(r.result, "PAM_SUCCESS", "\n".join(r.log))
            now += 30
        self.fail("no full batch of pending entries: %d" % len(self.pending()))

    def login(self, svc, user, answer, now, fault=None):
        return self.w.run_login(svc, user, answer, now=now, fault=fault)

    # -- the scenarios ---------------------------------------------------------------------
    def test_1_full_disk_state_in_place_works_new_files_fail_closed(self):
        w = self.w
        self.fill(0)
        before = self.hashes()
        ino = self.ino("users/alice")
        old_state = self.state()
        now = T
        f = self.enospc()
        step = now // 30

        def login(ctx, svc, answer, want, user="alice", at=now, kept=None):
            """kept: (result, reason) of the entry a login that writes the state keeps in
            its slot write; None: the entry goes straight to the log."""
            old_log, old_pending = self.read("last/alice"), self.pending()
            r = self.login(svc, user, answer, at, f)
            self.assertEqual(r.result, want, "%s:\n%s" % (ctx, "\n".join(r.log)))
            if user == "alice" and kept:
                self.check_entry_kept_in_slot(ctx, old_log, old_pending, r, at, *kept)
            elif user == "alice":
                self.check_log_appended_or_warned(ctx, old_log, r)
            return r

        # The state alone: written in place, no new block needed; the login's last-logins
        # entry rides in the same slot write (0.3.2), so it is kept on a full disk too
        # (before, the code login's line was appended to the log, or lost with a warning).
        good = PW + w.code_at("alice", now)
        login("code", self.simple, good, "PAM_SUCCESS", kept=("success", "code-accepted"))
        self.assertEqual(int(self.state()["last_step"]), step, "step not stored")
        r = login("the same code again", self.simple, good, "PAM_AUTH_ERR")
        self.assertIn("reason=replayed-code", "\n".join(r.log))
        login("hardened", self.hardened, PW + w.code_at("alice", now + 30), "PAM_SUCCESS",
              at=now + 30, kept=("success", "code-accepted"))
        self.assertEqual(int(self.state()["last_step"]), step + 1)
        wrong = PW + "%06d" % ((int(w.code_at("alice", now + 30)) + 1) % 1000000)
        r = login("wrong code", self.simple, wrong, "PAM_AUTH_ERR", at=now + 30,
                  kept=("failure", "wrong-code"))
        self.assertIn("reason=wrong-code", "\n".join(r.log))
        # An outcome that writes no state (no code typed) appends straight to the log: on a
        # full disk, until its last page is full; then the entry is not written, a warning
        # names ENOSPC, and the result is the same.
        warned = False
        for n in range(PAGE // 40):
            r = login("no code #%d" % n, self.simple, PW, "PAM_AUTH_ERR", at=now + 30)
            self.assertIn("reason=no-code", "\n".join(r.log))
            if [l for l in r.log if NOT_WRITTEN in l]:
                warned = True
                break
        self.assertTrue(warned, "a full disk never refused the no-code entry")
        self.assertEqual(int(self.state()["failures"]), int(old_state["failures"]) + 1,
                         "a guess on a full disk must be counted")
        self.assertEqual(w.run_cli("unlock", "alice", now=now + 30, fault=f).returncode, 0)
        self.assertEqual(self.state()["failures"], "0")
        self.assertEqual(self.ino("users/alice"), ino, "users/alice replaced, not rewritten")
        self.assertEqual(len(self.read("users/alice")), tl.SLOT_FILE_SIZE)
        # Confirming a pending user: her state joins her user file, in place.
        erin_ino = self.ino("users/erin")
        r = w.run_cli("confirm", "erin", w.code_at("erin", now), now=now, fault=f)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.ino("users/erin"), erin_ino, "users/erin replaced")
        self.assertEqual(len(self.read("users/erin")), tl.SLOT_FILE_SIZE)
        rec, st = tl.read_user(w.store, "erin")
        self.assertIn("\nstatus = enabled\n", rec)
        self.assertEqual(int(tl.state_fields(st)["last_step"]), step)
        # What needs no state still works.
        login("app password", self.simple, self.app_pw, "PAM_SUCCESS", at=now + 30)
        self.assertEqual(self.login(self.bob, "bob", "bobpw", now, f).result, "PAM_SUCCESS")
        # What needs a new file fails closed, naming ENOSPC.
        for ctx, svc, user, answer in (
                ("recovery code", self.simple, "alice", PW + self.recovery[0]),
                ("0.2.0 user", self.dave, "dave", "davepw" + w.code_at("dave", now))):
            r = self.login(svc, user, answer, now + 30, f)
            text = "\n".join(r.log)
            self.assertEqual(r.result, "PAM_AUTHINFO_UNAVAIL", "%s: %s" % (ctx, text))
            self.assertRegex(text, r"(?m)^3 result=error reason=io-error .*No space left on "
                                   r"device", ctx)
        for args in (("app-password", "add", "alice", "tablet"), ("recovery-codes", "alice"),
                     ("enroll", "--no-qr", "carol")):
            r = w.run_cli(*args, now=now, fault=f)
            self.assertEqual(r.returncode, 4, "%s: %s%s" % (args, r.stdout, r.stderr))
        # Nothing else changed, nothing left behind, everything still reads.
        after = self.hashes()
        empty = hashlib.sha256(b"").hexdigest()
        # locks/alice: its size is the order mark of the entries appended to last/alice.
        written = ("users/alice", "last/alice", "locks/alice", "users/erin")
        self.assertEqual({rel: h for rel, h in after.items()
                          if rel in before and rel not in written},
                         {rel: h for rel, h in before.items() if rel not in written},
                         "files changed on a full disk")
        self.assertNotIn("users/dave", after)
        # The only new files: empty lock files (the CLI locks a new user before writing).
        self.assertEqual([rel for rel in after if rel not in before and not (
            rel.startswith("locks/") and after[rel] == empty)], [])
        self.assertFalse([rel for rel in after if is_temp(rel)])
        self.assertEqual(w.jcli("status", "erin", now=now)["status"], "enabled")
        w.jcli("status", "alice", now=now)
        w.jcli("last", "alice", now=now)
        # Room again: the refused ones work now (their codes were never used up).
        self.unfill()
        self.assertEqual(self.login(self.simple, "alice", PW + self.recovery[0], now + 60)
                         .result, "PAM_SUCCESS")
        dave = "davepw" + w.code_at("dave", now)
        self.assertEqual(self.login(self.dave, "dave", dave, now + 30).result, "PAM_SUCCESS")
        self.assertEqual(len(self.read("users/dave")), tl.SLOT_FILE_SIZE, "dave not moved")
        rec, st = tl.read_user(w.store, "dave")
        self.assertEqual(rec, self.dave_record)
        self.assertEqual(int(tl.state_fields(st)["last_step"]), step)
        self.assertEqual(self.read("records/dave"), tl.MOVED_RECORD)
        self.assertNotIn("state/dave", self.hashes())
        self.assertEqual(self.login(self.dave, "dave", dave, now + 30).result, "PAM_AUTH_ERR")

    def test_2_log_does_not_fit_but_the_state_does(self):
        """One free page, a log of several pages, and another keep: the entries pending in
        users/alice (kept for 200) must be moved to the log first, which means rewriting it
        (a temporary file of several pages): that does not fit.  The login succeeds, its
        step is stored, the log is left as it was, the pending entries are lost and a
        warning says so, naming ENOSPC; the login's own entry is pending (kept for 199)."""
        w = self.w
        last = os.path.join(w.store, "last", "alice")
        self.assertGreater(os.path.getsize(last), PAGE, "the log must span pages")
        self.assertTrue(self.pending(), "nothing pending to move")
        self.fill(1)
        before = self.hashes()
        now = T + 300
        code = PW + w.code_at("alice", now)
        # Another keep: the log must be rewritten through a temporary file of several pages.
        r = self.login(self.keep199, "alice", code, now, self.enospc("/last/"))
        text = "\n".join(r.log)
        self.assertEqual(r.result, "PAM_SUCCESS", text)
        self.assertRegex(text, r"(?m)^4 last-logins log not written: pending last-logins "
                               r"entries lost: .*No space left on device")
        after = self.hashes()
        self.assertEqual(after["last/alice"], before["last/alice"], "the log changed")
        self.assertNotEqual(after["users/alice"], before["users/alice"], "state not stored")
        changed = sorted(rel for rel in set(before) | set(after)
                         if before.get(rel) != after.get(rel))
        self.assertEqual(changed, ["users/alice"])
        self.assertFalse([rel for rel in after if is_temp(rel)])
        self.assertEqual([line_fields(l)[0] for l in self.pending()], [now])
        self.last_shows("keep 199", now, "success", "code-accepted")
        # The step really is stored: the same string again is a replay.
        r = self.login(self.simple, "alice", code, now)
        self.assertEqual(r.result, "PAM_AUTH_ERR")
        self.assertIn("reason=replayed-code", "\n".join(r.log))
        self.unfill()

    def test_3_an_append_fits_in_one_free_page(self):
        """One free page: an entry written straight to the log (no code) is appended in
        place; so is the move of a full batch of pending entries (one append of 32 lines,
        then fdatasync), before the slot write of the login that moves them."""
        if not self.mounted:
            self.skipTest("needs the tmpfs: an injected ENOSPC cannot leave one page free")
        w = self.w
        self.fill(1)
        old = self.read("last/alice")
        ino = self.ino("last/alice")
        now = T + 600
        r = self.login(self.simple, "alice", PW, now)
        self.assertEqual(r.result, "PAM_AUTH_ERR", "\n".join(r.log))
        self.assertFalse([l for l in r.log if "last-logins" in l], r.log)
        new = self.read("last/alice")
        self.assertTrue(new.startswith(old) and new[len(old):].count(b"\n") == 1)
        self.assertEqual(self.ino("last/alice"), ino, "appended, not replaced")
        # A full batch (code logins write in place: no page needed), then its move.
        now = self.fill_batch(self.simple, now)
        old, batch = self.read("last/alice"), self.pending()
        self.assertLess(len(batch[0]) * PENDING_MAX, PAGE, "the batch fits a page")
        r = self.login(self.simple, "alice", PW + w.code_at("alice", now), now)
        self.assertEqual(r.result, "PAM_SUCCESS", "\n".join(r.log))
        self.assertFalse([l for l in r.log if "last-logins" in l], r.log)
        new = self.read("last/alice")
        self.assertTrue(new.startswith(old), "the batch was not appended")
        self.assertEqual(tl.decode_lastlog(new).lines,
                         tl.decode_lastlog(old).lines + batch, "not the batch, in order")
        self.assertEqual(self.ino("last/alice"), ino, "appended, not replaced")
        self.assertEqual([line_fields(l)[0] for l in self.pending()], [now])
        self.unfill()

    def test_4_a_move_on_a_full_disk_loses_the_batch_not_the_login(self):
        """Completely full, the log's last page full too: the move of a full batch cannot
        be appended (a short write, taken back).  The login succeeds and its step is
        stored; the log is as it was; the batch is lost and a warning says so, naming
        ENOSPC; the login's own entry is pending, and mailotp last shows it.  The login
        comes a second after the entries that fill the log: an entry of its own second in
        the log would take the login's entry there, after it (the order mark)."""
        w = self.w
        now = self.fill_batch(self.simple, T + 3000)
        batch = self.pending()
        self.fill(0)
        f = self.enospc("/last/")
        if self.mounted:
            # Entries written straight until the log's last page is full.
            for n in range(PAGE // 40):
                old = self.read("last/alice")
                r = self.login(self.simple, "alice", PW, now)
                self.assertEqual(r.result, "PAM_AUTH_ERR")
                if self.check_log_appended_or_warned("no code #%d" % n, old, r):
                    break
            else:
                self.fail("the log's last page never filled up")
        before = self.hashes()
        ino = self.ino("users/alice")
        now += 1
        r = self.login(self.simple, "alice", PW + w.code_at("alice", now), now, f)
        text = "\n".join(r.log)
        self.assertEqual(r.result, "PAM_SUCCESS", text)
        self.assertRegex(text, r"(?m)^4 last-logins log not written: pending last-logins "
                               r"entries lost: cannot append to alice: No space left on "
                               r"device$")
        self.assertEqual(int(self.state()["last_step"]), now // 30, "step not stored")
        after = self.hashes()
        self.assertEqual(after["last/alice"], before["last/alice"], "the log changed")
        self.assertEqual(sorted(rel for rel in set(before) | set(after)
                                if before.get(rel) != after.get(rel)), ["users/alice"])
        self.assertEqual(self.ino("users/alice"), ino)
        self.assertEqual([line_fields(l)[0] for l in self.pending()], [now])
        log = tl.decode_lastlog(self.read("last/alice"))
        self.assertFalse(set(batch) & set(log.lines), "the batch is in the log?")
        self.assertIn(LOST, text)
        self.last_shows("after the lost move", now, "success", "code-accepted")
        self.unfill()


if __name__ == "__main__":
    unittest.main()
