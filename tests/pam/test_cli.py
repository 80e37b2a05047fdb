# SPDX-License-Identifier: GPL-2.0-or-later
"""The mailotp CLI: enrollment (QR + URI), the challenge, disable, status, exit codes."""
import json
import os
import re
import stat
import subprocess
import time
import urllib.parse

import mailotp_testlib as tl
from mailotp_testlib import WorldTest, oathtool_code

PW = "T9D3K!px"


class Enroll(WorldTest):
    def test_enroll_prints_uri_and_qr_and_stays_pending(self):
        res = self.w.cli("enroll", "Alice@Example.com", check=0)
        uris = [l for l in res.stdout.splitlines() if l.startswith("otpauth://")]
        self.assertEqual(len(uris), 1)
        u = urllib.parse.urlparse(uris[0])
        self.assertEqual(u.netloc, "totp")
        self.assertTrue(u.path.endswith(":Alice%40Example.com"), u.path)
        q = urllib.parse.parse_qs(u.query)
        self.assertRegex(q["secret"][0], r"^[A-Z2-7]{32}$")
        self.assertEqual(q["digits"], ["6"])
        self.assertEqual(q["period"], ["30"])
        self.assertEqual(q["algorithm"], ["SHA1"])
        self.assertIn("\u2588", res.stdout)  # the QR code's blocks
        self.assertEqual(self.w.status("alice@example.com")["status"], "pending")

    def test_store_files_are_private(self):
        self.w.enroll("alice")
        st = os.stat(self.w.user_file("alice"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        self.assertEqual(st.st_nlink, 1)
        for sub in ("users", "locks"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.w.store, sub)).st_mode), 0o700)
        self.assertEqual([n for n in os.listdir(os.path.join(self.w.store, "users"))
                          if n.startswith(".")], [])

    def test_new_store_has_users_and_no_0_2_0_directories(self):
        self.w.enroll("alice")
        self.assertEqual(sorted(os.listdir(self.w.store)),
                         ["apppw", "last", "locks", "recovery", "server.key", "users"])
        self.assertEqual(os.listdir(os.path.join(self.w.store, "users")), ["alice"])
        rec, state = tl.read_user(self.w.store, "alice")
        self.assertIn("\nstatus = pending\n", rec)
        self.assertEqual(state, "")
        # A read-only verb lays out a new store the same way.
        other = os.path.join(self.w.root, "store2")
        res = subprocess.run([tl.CLI, "--dir", other, "--conf", self.w.conf, "status", "bob"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertNotIn("records", os.listdir(other))
        self.assertNotIn("state", os.listdir(other))
        self.assertEqual(os.listdir(os.path.join(other, "users")), [])

    def test_issuer_from_configuration(self):
        with open(self.w.conf, "w") as f:
            f.write("issuer = Example Mail\n")
        res = self.w.cli("enroll", "--no-qr", "bob", check=0)
        self.assertIn("otpauth://totp/Example%20Mail:bob?", res.stdout)
        self.assertIn("&issuer=Example%20Mail&", res.stdout)
        self.assertNotIn("\u2588", res.stdout)

    def test_reenroll_pending_replaces_secret(self):
        first = self.w.enroll("alice")
        second = self.w.enroll("alice")
        self.assertNotEqual(first, second)

    def test_enabled_user_must_disable_first_or_force(self):
        self.w.enable("alice")
        res = self.w.cli("enroll", "--no-qr", "alice", check=3)
        self.assertIn("already has 2FA enabled", res.stderr)
        res = self.w.cli("enroll", "--no-qr", "--force", "alice", check=0)
        self.assertIn("WARNING: 2FA was enabled for alice; it is OFF", res.stdout)
        self.assertEqual(self.w.status("alice")["status"], "pending")

    def test_invalid_usernames(self):
        for name in ("../x", ".hidden", "a/b", "", "x" * 256):
            res = self.w.cli("enroll", "--no-qr", name, check=2)
            self.assertIn("invalid username", res.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "x")))

    def test_unsafe_store_refused(self):
        os.chmod(self.w.store, 0o777)
        res = self.w.cli("enroll", "--no-qr", "alice", check=4)
        self.assertIn("unsafe", res.stderr)


class Confirm(WorldTest):
    def test_wrong_code_leaves_pending(self):
        secret = self.w.enroll("alice")
        good = oathtool_code(secret, int(time.time()))
        bad = "%06d" % ((int(good) + 500000) % 1000000)
        res = self.w.cli("confirm", "alice", bad, check=1)
        self.assertIn("stays pending", res.stderr)
        self.assertNotIn(good, res.stderr + res.stdout)
        self.assertEqual(self.w.status("alice")["status"], "pending")

    def test_right_code_enables_and_code_with_space_is_accepted(self):
        secret = self.w.enroll("alice")
        code = oathtool_code(secret, int(time.time()))
        self.w.cli("confirm", "alice", code[:3] + " " + code[3:], check=0)
        st = self.w.status("alice")
        self.assertEqual(st["status"], "enabled")
        self.assertEqual(st["failures"], "0")
        self.assertEqual(st["locked"], "no")

    def test_expired_code_refused(self):
        secret = self.w.enroll("alice")
        old = oathtool_code(secret, int(time.time()) - 300)
        self.w.cli("confirm", "alice", old, check=1)

    def test_not_enrolled(self):
        res = self.w.cli("confirm", "nobody", "123456", check=3)
        self.assertIn("not enrolled", res.stderr)

    def test_already_enabled(self):
        self.w.enable("alice")
        self.w.cli("confirm", "alice", "123456", check=3)

    def test_malformed_code(self):
        self.w.enroll("alice")
        for code in ("12345", "1234567", "abcdef", "١٢٣٤٥٦"):
            self.w.cli("confirm", "alice", code, check=2)


class Disable(WorldTest):
    def test_disable_needs_a_valid_code(self):
        step = self.w.enable("alice", PW)
        good = self.w.code("alice", step + 1)
        bad = "%06d" % ((int(good) + 1) % 1000000)
        self.w.cli("disable", "alice", check=2)
        res = self.w.cli("disable", "alice", bad, check=1)
        self.assertIn("stays enabled", res.stderr)
        self.assertEqual(self.w.status("alice")["failures"], "1")
        self.w.cli("disable", "alice", good, check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")
        # Password alone works again.
        svc = self.w.simple_service("alice")
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_SUCCESS")

    def test_disable_code_is_replay_protected(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice")
        code = self.w.code("alice", step + 1)
        self.assertEqual(self.w.login(svc, "alice", PW + code), "PAM_SUCCESS")
        res = self.w.cli("disable", "alice", code, check=1)
        self.assertIn("replayed-code", res.stderr)

    def test_force_disable(self):
        self.w.enable("alice")
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")
        self.assertFalse(os.path.exists(self.w.user_file("alice")))
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "state", "alice")))
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "records", "alice")))

    def test_force_disable_removes_a_corrupt_record(self):
        self.w.enable("alice")
        tl.write_user(self.w.store, "alice", record="junk\nend\n")
        self.w.cli("status", "alice", check=4)
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")
        self.assertFalse(os.path.exists(self.w.user_file("alice")))

    def test_force_disable_removes_a_user_file_without_valid_slot(self):
        self.w.enable("alice")
        with open(self.w.user_file("alice"), "r+b") as f:
            f.write(b"\0" * 8192)
        self.w.cli("status", "alice", check=4)
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")
        self.assertFalse(os.path.exists(self.w.user_file("alice")))

    def test_pending_enrollment_can_be_cancelled_without_code(self):
        self.w.enroll("alice")
        self.w.cli("disable", "alice", check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")

    def test_disable_unknown_user(self):
        self.w.cli("disable", "--force", "nobody", check=3)


class UserFileDamaged(WorldTest):
    """users/KEY with no valid slot: the record cannot be read (fail closed), a state
    write refuses (nothing is thrown away for a counter), enroll --force replaces it."""

    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.path = self.w.user_file("alice")
        with open(self.path, "r+b") as f:
            f.write(b"\0" * 20 + b"\1" * 30)  # slot 0's header and payload spoilt
            f.seek(4096)
            f.write(b"\0" * 4096)  # slot 1 gone
        with open(self.path, "rb") as f:
            self.image = f.read()
        with self.assertRaises(tl.StateFormatError):
            tl.decode_user(self.image)

    def unchanged(self):
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), self.image)

    def test_reads_fail_closed_and_state_writes_refuse(self):
        res = self.w.cli("status", "alice", check=4)
        self.assertIn("no valid slot", res.stderr)
        res = self.w.cli("unlock", "alice", check=4)
        self.unchanged()
        svc = self.w.simple_service("alice")
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", self.step + 1)),
                         "PAM_AUTHINFO_UNAVAIL")
        self.unchanged()
        self.w.cli("enroll", "--no-qr", "alice", check=4)
        self.unchanged()

    def test_enroll_force_replaces_it(self):
        secret = self.w.cli("enroll", "--no-qr", "--force", "alice", check=0)
        rec, state = tl.read_user(self.w.store, "alice")
        self.assertIn("\nstatus = pending\n", rec)
        self.assertEqual(state, "")
        self.assertEqual(self.w.status("alice")["status"], "pending")
        m = re.search(r"secret=([A-Z2-7]+)", secret.stdout)
        now = int(time.time())
        self.w.cli("confirm", "alice", oathtool_code(m.group(1), now), check=0)
        self.assertEqual(self.w.status("alice")["status"], "enabled")


class Migration(tl.LegacyUserTest):
    """The mailotp verbs on a user of 0.2.0 (records/KEY, state/KEY): status reads it as
    it is; unlock and enroll --force (the first write under the user's lock) move it into
    users/KEY, replace records/KEY by MOVED_RECORD and remove state/KEY; disable removes
    every file of it, moved or not."""

    def layout(self):
        """{path: bytes} of alice's record and state files, wherever they are."""
        return {p: self.read(p) for p in (self.records, self.state_path, self.user)
                if os.path.exists(p)}

    def legacy_state(self, **fields):
        """Rewrite state/alice (a fresh 0.2.0 slot file) with these fields changed."""
        text = self.state
        for k, v in fields.items():
            text, n = re.subn(r"(?m)^%s = \S+$" % k, "%s = %s" % (k, v), text)
            self.assertEqual(n, 1, k)
        with open(self.state_path, "wb") as f:
            f.write(tl.encode_state_file((1, text)))
        return text

    def assertMoved(self, rec=None):
        """users/alice holds the record (the one before, or rec) and a state; records/alice
        says moved; state/alice is gone.  Returns the state's fields."""
        r, st = tl.read_user(self.w.store, "alice")
        self.assertEqual(r, self.rec if rec is None else rec)
        self.assertEqual(self.read(self.records), tl.MOVED_RECORD)
        self.assertFalse(os.path.exists(self.state_path))
        for sub in ("users", "records", "state"):
            self.assertFalse([n for n in os.listdir(os.path.join(self.w.store, sub))
                              if n.startswith(".")], "temporary file left in %s/" % sub)
        return tl.state_fields(st), st

    def login(self, code):
        return self.w.login(self.svc, "alice", PW + code)

    def assertGone(self):
        for p in (self.records, self.state_path, self.user,
                  os.path.join(self.w.store, "recovery", "alice")):
            self.assertFalse(os.path.exists(p), "%s left" % p)
        self.assertEqual(self.w.status("alice")["status"], "disabled")
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_SUCCESS")

    def test_status_of_a_0_2_0_user(self):
        self.legacy_state(failures="2")
        before = self.layout()
        st = self.w.status("alice")
        self.assertEqual((st["status"], st["failures"]), ("enabled", "2"))
        obj = json.loads(self.w.cli("--json", "status", "alice", check=0).stdout)
        self.assertEqual((obj["status"], obj["state"], obj["failures"], obj["locked"]),
                         ("enabled", "ok", 2, False))
        self.assertIsNotNone(obj["enabled"])
        # Reading moves nothing.
        self.assertEqual(self.layout(), before)
        self.assertFalse(os.path.exists(self.user))
        # Without its state: "missing", as for a user file without a state part.
        os.unlink(self.state_path)
        obj = json.loads(self.w.cli("--json", "status", "alice", check=0).stdout)
        self.assertEqual((obj["status"], obj["state"]), ("enabled", "missing"))
        self.assertFalse(os.path.exists(self.user))

    def test_unlock_moves_the_user(self):
        self.legacy_state(failures="2")
        obj = json.loads(self.w.cli("--json", "unlock", "alice", check=0).stdout)
        self.assertEqual(obj, {"user": "alice", "failures": 0, "state_rebuilt": False})
        fields, _ = self.assertMoved()
        self.assertEqual((fields["failures"], int(fields["last_step"])), ("0", self.step))
        # The replay step came along: the confirmation's code is still used up.
        self.assertEqual(self.login(self.w.code("alice", self.step)), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        good = self.w.code("alice", self.step + 1)
        self.assertEqual(self.login(good), "PAM_SUCCESS")
        self.assertEqual(self.login(good), "PAM_AUTH_ERR")
        self.assertEqual(self.read(self.records), tl.MOVED_RECORD)

    def test_unlock_of_a_0_2_0_user_without_state_moves_the_user(self):
        os.unlink(self.state_path)
        obj = json.loads(self.w.cli("--json", "unlock", "alice", check=0).stdout)
        self.assertEqual(obj, {"user": "alice", "failures": 0, "state_rebuilt": True})
        fields, _ = self.assertMoved()
        self.assertGreaterEqual(int(fields["last_step"]), self.step)
        now_step = int(time.time()) // 30
        self.assertEqual(self.login(self.w.code("alice", now_step + 1)), "PAM_SUCCESS")

    def test_enroll_force_moves_the_user(self):
        res = self.w.cli("enroll", "--no-qr", "--force", "alice", check=0)
        self.assertIn("WARNING: 2FA was enabled for alice; it is OFF", res.stdout)
        secret = re.search(r"secret=([A-Z2-7]+)", res.stdout).group(1)
        self.assertNotEqual(secret, self.w.secrets["alice"])
        rec, _ = tl.read_user(self.w.store, "alice")
        self.assertIn("\nstatus = pending\n", rec)
        self.assertIn("\nsecret = %s\n" % secret, rec)
        fields, state = self.assertMoved(rec)
        # The 0.2.0 state went along (its replay step included).
        self.assertEqual(state, self.state)
        self.assertEqual(self.w.status("alice")["status"], "pending")
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_SUCCESS")  # pending: no 2FA
        now = int(time.time())
        self.w.cli("confirm", "alice", oathtool_code(secret, now), check=0)
        self.w.secrets["alice"] = secret
        self.assertEqual(self.w.status("alice")["status"], "enabled")
        self.assertEqual(self.read(self.records), tl.MOVED_RECORD)
        good = self.w.code("alice", now // 30 + 1)
        self.assertEqual(self.login(good), "PAM_SUCCESS")
        self.assertEqual(self.login(good), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")

    def test_disable_of_a_0_2_0_user(self):
        self.w.cli("recovery-codes", "alice", check=0)
        self.assertTrue(os.path.exists(os.path.join(self.w.store, "recovery", "alice")))
        self.w.cli("disable", "alice", self.w.code("alice", self.step + 1), check=0)
        self.assertGone()

    def test_force_disable_of_a_0_2_0_user(self):
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertGone()

    def test_disable_of_a_moved_user(self):
        self.w.cli("recovery-codes", "alice", check=0)
        self.w.cli("unlock", "alice", check=0)
        self.assertMoved()
        self.w.cli("disable", "alice", self.w.code("alice", self.step + 1), check=0)
        self.assertGone()

    def test_force_disable_of_a_moved_user(self):
        self.assertEqual(self.login(self.w.code("alice", self.step + 1)), "PAM_SUCCESS")
        self.assertMoved()
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertGone()


class Misc(WorldTest):
    def test_usage(self):
        res = self.w.cli(check=2)
        self.assertIn("usage:", res.stderr)
        self.w.cli("frobnicate", "alice", check=2)
        self.w.cli("status", "alice", "extra", check=2)
        self.assertIn("usage:", self.w.cli("--help", check=0).stdout)

    def test_global_options_given_twice(self):
        res = self.w.cli("--dir", "/a", "--dir", "/b", "status", "alice", check=2)
        self.assertIn("once each", res.stderr)

    def test_bad_configuration(self):
        with open(self.w.conf, "w") as f:
            f.write("window = 99\n")
        res = self.w.cli("status", "alice", check=2)
        self.assertIn("line 1: window", res.stderr)

    def test_status_of_enabled_user(self):
        self.w.enable("alice")
        st = self.w.status("alice")
        self.assertEqual(st["status"], "enabled")
        self.assertRegex(st["enabled"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        self.assertEqual(st["last failure"], "never")
