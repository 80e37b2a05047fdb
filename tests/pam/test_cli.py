# SPDX-License-Identifier: GPL-2.0-or-later
"""The mailotp CLI: enrollment (QR + URI), the challenge, disable, status, exit codes."""
import os
import re
import stat
import time
import urllib.parse

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
        rec = os.path.join(self.w.store, "records", "alice")
        st = os.stat(rec)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        for sub in ("records", "locks"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.w.store, sub)).st_mode), 0o700)
        self.assertEqual([n for n in os.listdir(os.path.join(self.w.store, "records"))
                          if n.startswith(".")], [])

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
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "state", "alice")))

    def test_force_disable_removes_a_corrupt_record(self):
        self.w.enable("alice")
        with open(os.path.join(self.w.store, "records", "alice"), "w") as f:
            f.write("junk")
        self.w.cli("status", "alice", check=4)
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")

    def test_pending_enrollment_can_be_cancelled_without_code(self):
        self.w.enroll("alice")
        self.w.cli("disable", "alice", check=0)
        self.assertEqual(self.w.status("alice")["status"], "disabled")

    def test_disable_unknown_user(self):
        self.w.cli("disable", "--force", "nobody", check=3)


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
