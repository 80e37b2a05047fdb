# SPDX-License-Identifier: GPL-2.0-or-later
"""Full disk: the store on a tiny tmpfs, filled up.

  - completely full: every login that needs the replay state (right code,
    recovery code, hardened stack) fails closed with PAM_AUTHINFO_UNAVAIL and
    reason io-error naming ENOSPC; so does a wrong code (its count cannot be
    stored, and a guess must not be told apart from a right code); logins that
    need no state (an application password, a user without 2FA) still work;
    mailotp writes fail with exit 4; no byte of any stored file changes and no
    temporary file is left; after room is made, logins work again;
  - room for the state but not for the last-logins log (one free page, a log
    of several pages): the login succeeds, the new replay step is stored (the
    same code is then refused as a replay), the log is left as it was and a
    warning names ENOSPC.

When tmpfs cannot be mounted here (no root, a container), the same scenarios
run with ENOSPC injected by the shim on every write (only on writes under
DIR/last/ for the second one), and the test output says so
(MAILOTP_FULLDISK_NO_TMPFS=1 forces that path).
"""
import errno
import hashlib
import os
import subprocess
import sys
import unittest

from faultlib import PW, T, FaultWorld, is_temp, require_env

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

    def login(self, svc, user, answer, now, fault=None):
        return self.w.run_login(svc, user, answer, now=now, fault=fault)

    # -- the scenarios ---------------------------------------------------------------------
    def test_1_full_disk_fails_closed_and_damages_nothing(self):
        w = self.w
        self.fill(0)
        before = self.hashes()
        now = T
        f = self.enospc()
        good = PW + w.code_at("alice", now)
        wrong = PW + "%06d" % ((int(w.code_at("alice", now)) + 1) % 1000000)
        for name, svc, answer in (("code", self.simple, good),
                                  ("hardened", self.hardened, good),
                                  ("recovery code", self.simple, PW + self.recovery[0])):
            r = self.login(svc, "alice", answer, now, f)
            text = "\n".join(r.log)
            self.assertEqual(r.result, "PAM_AUTHINFO_UNAVAIL", "%s: %s" % (name, text))
            self.assertRegex(text, r"(?m)^3 result=error reason=io-error .*No space left on "
                                   r"device", name)
        r = self.login(self.simple, "alice", wrong, now, f)
        self.assertEqual(r.result, "PAM_AUTHINFO_UNAVAIL", "a guess must look like a right code")
        self.assertIn("No space left on device", "\n".join(r.log))
        # What needs no replay state still works.
        self.assertEqual(self.login(self.simple, "alice", self.app_pw, now, f).result,
                         "PAM_SUCCESS")
        self.assertEqual(self.login(self.bob, "bob", "bobpw", now, f).result, "PAM_SUCCESS")
        # The administrator's writes fail cleanly.
        for args in (("unlock", "alice"), ("app-password", "add", "alice", "tablet"),
                     ("recovery-codes", "alice"), ("enroll", "--no-qr", "carol")):
            r = w.run_cli(*args, now=now, fault=f)
            self.assertEqual(r.returncode, 4, "%s: %s%s" % (args, r.stdout, r.stderr))
        # Nothing stored was damaged, nothing left behind, everything still reads.
        after = self.hashes()
        empty = hashlib.sha256(b"").hexdigest()
        self.assertEqual({rel: h for rel, h in after.items() if rel in before}, before,
                         "files changed on a full disk")
        # The only new files: empty lock files (the CLI locks a new user before writing).
        self.assertEqual([rel for rel in after if rel not in before and not (
            rel.startswith("locks/") and after[rel] == empty)], [])
        self.assertFalse([rel for rel in after if is_temp(rel)])
        w.jcli("status", "alice", now=now)
        w.jcli("last", "alice", now=now)
        # Room again: the same code now works (it was never used up).
        self.unfill()
        self.assertEqual(self.login(self.simple, "alice", good, now).result, "PAM_SUCCESS")

    def test_2_log_does_not_fit_but_the_state_does(self):
        w = self.w
        last = os.path.join(w.store, "last", "alice")
        self.assertGreater(os.path.getsize(last), PAGE, "the log must span pages")
        self.fill(1)
        before = self.hashes()
        now = T + 300
        code = PW + w.code_at("alice", now)
        r = self.login(self.simple, "alice", code, now, self.enospc("/last/"))
        text = "\n".join(r.log)
        self.assertEqual(r.result, "PAM_SUCCESS", text)
        self.assertRegex(text, r"(?m)^4 last-logins log not written: .*No space left on device")
        after = self.hashes()
        self.assertEqual(after["last/alice"], before["last/alice"], "the log changed")
        self.assertNotEqual(after["state/alice"], before["state/alice"], "state not stored")
        changed = sorted(rel for rel in set(before) | set(after)
                         if before.get(rel) != after.get(rel))
        self.assertEqual(changed, ["state/alice"])
        # The step really is stored: the same string again is a replay.
        r = self.login(self.simple, "alice", code, now)
        self.assertEqual(r.result, "PAM_AUTH_ERR")
        self.assertIn("reason=replayed-code", "\n".join(r.log))
        self.unfill()


if __name__ == "__main__":
    unittest.main()
