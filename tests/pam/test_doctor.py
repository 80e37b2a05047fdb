# SPDX-License-Identifier: GPL-2.0-or-later
"""mailotp doctor against a set of good and broken PAM stacks and Dovecot configurations."""
import json
import os
import time

import mailotp_testlib as tl
from mailotp_testlib import WorldTest

PW = "T9D3K!px"

SIMPLE = ("auth [success=done ignore=ignore default=die] pam_mailotp.so\n"
          "auth required pam_unix.so use_first_pass\n"
          "account required pam_unix.so\n")
HARDENED = ("auth [success=done ignore=ignore default=die] pam_mailotp.so split\n"
            "auth requisite pam_unix.so use_first_pass\n"
            "auth required pam_mailotp.so verify\n"
            "account required pam_unix.so\n")

# name -> (stack text, ids that must be reported, ids that must not)
CASES = {
    "simple-good": (SIMPLE, [], ["failure-not-fatal", "no-use-first-pass"]),
    "hardened-good": (HARDENED, [], ["split-without-verify", "password-not-requisite"]),
    "split-no-verify": ("auth [success=done ignore=ignore default=die] pam_mailotp.so split\n"
                        "auth required pam_unix.so use_first_pass\n", ["split-without-verify"], []),
    "verify-no-split": ("auth required pam_unix.so\nauth required pam_mailotp.so verify\n",
                        ["verify-without-split"], []),
    "after-password": ("auth required pam_unix.so\n"
                       "auth [success=done ignore=ignore default=die] pam_mailotp.so\n",
                       ["password-before-mailotp"], []),
    "sufficient-password-first": ("auth sufficient pam_unix.so\nauth required pam_mailotp.so\n",
                                  ["password-before-mailotp"], []),
    "no-use-first-pass": ("auth [success=done ignore=ignore default=die] pam_mailotp.so\n"
                          "auth required pam_unix.so\n", ["no-use-first-pass"], []),
    "try-first-pass": ("auth [success=done ignore=ignore default=die] pam_mailotp.so\n"
                       "auth required pam_unix.so try_first_pass\n", ["try-first-pass"], []),
    "optional-module": ("auth optional pam_mailotp.so\nauth required pam_unix.so use_first_pass\n",
                        ["failure-not-fatal"], []),
    "sufficient-module": ("auth sufficient pam_mailotp.so\n"
                          "auth required pam_unix.so use_first_pass\n",
                          ["failure-not-fatal"], []),
    "bracket-auth-err-ignored": ("auth [success=done ignore=ignore auth_err=ignore default=die] "
                                 "pam_mailotp.so\nauth required pam_unix.so use_first_pass\n",
                                 ["failure-not-fatal"], []),
    "ignore-done": ("auth [success=done ignore=done default=die] pam_mailotp.so\n"
                    "auth required pam_unix.so use_first_pass\n", ["ignore-not-ignored"], []),
    "required-module": ("auth required pam_mailotp.so\nauth required pam_unix.so use_first_pass\n",
                        ["app-passwords-rechecked"], ["failure-not-fatal"]),
    "verify-optional": ("auth [success=done ignore=ignore default=die] pam_mailotp.so split\n"
                        "auth requisite pam_unix.so use_first_pass\n"
                        "auth optional pam_mailotp.so verify\n", ["verify-failure-not-fatal"], []),
    "hardened-sufficient-password": ("auth [success=done ignore=ignore default=die] pam_mailotp.so split\n"
                                     "auth sufficient pam_unix.so use_first_pass\n"
                                     "auth required pam_mailotp.so verify\n", ["verify-skipped"], []),
    "hardened-required-password": ("auth [success=done ignore=ignore default=die] pam_mailotp.so split\n"
                                   "auth required pam_unix.so use_first_pass\n"
                                   "auth required pam_mailotp.so verify\n",
                                   ["password-not-requisite"], ["verify-skipped"]),
    "permit-after": ("auth [success=done ignore=ignore default=die] pam_mailotp.so\n"
                     "auth required pam_permit.so\n", ["permit-after-mailotp", "no-password-module"], []),
    "included-stack": ("@include mailotp-common\n", [], ["not-protected"]),
}


class Doctor(WorldTest):
    def setUp(self):
        super().setUp()
        self.pamdir = os.path.join(self.w.root, "pamd")
        os.mkdir(self.pamdir)
        for name, (text, _, _) in CASES.items():
            with open(os.path.join(self.pamdir, name), "w") as f:
                f.write(text)
        with open(os.path.join(self.pamdir, "mailotp-common"), "w") as f:
            f.write(SIMPLE)
        self.dove = os.path.join(self.w.root, "doveconf.txt")
        with open(self.dove, "w") as f:
            f.write("passdb {\n  args = %s\n  driver = pam\n}\n")

    def doctor(self, *services, check=None, dove=None):
        res = self.w.cli("--json", "doctor", "--pamdir", self.pamdir, "--doveconf",
                         dove or self.dove, *services, check=check)
        return res.returncode, json.loads(res.stdout)

    def ids(self, out, severities=("unsafe", "error", "warning", "note")):
        return [f["id"] for f in out["findings"] if f["severity"] in severities]

    def test_each_stack(self):
        for name, (_, want, unwanted) in CASES.items():
            with self.subTest(stack=name):
                rc, out = self.doctor(name)
                found = self.ids(out)
                for w in want:
                    self.assertIn(w, found, out)
                for u in unwanted:
                    self.assertNotIn(u, found, out)
                bad = self.ids(out, ("unsafe", "error"))
                self.assertEqual(rc, 1 if bad else 0, out)
                for f in out["findings"]:
                    self.assertTrue(f["fix"], f)
                    if f["id"] not in ("clock-unsynchronised", "dovecot-one-service"):
                        self.assertTrue(f["problem"].startswith(name) or name in f["problem"]
                                        or f["id"] in ("store-readable",), f)

    def test_good_stacks_pass(self):
        rc, out = self.doctor("simple-good", "hardened-good", "included-stack", check=0)
        self.assertTrue(out["ok"])
        self.assertEqual(out["services"], ["simple-good", "hardened-good", "included-stack"])

    def test_dovecot_cache_key_is_unsafe(self):
        bad = os.path.join(self.w.root, "dove-bad.txt")
        with open(bad, "w") as f:
            f.write("passdb {\n  args = cache_key=%u%w %s\n  driver = pam\n}\n")
        rc, out = self.doctor("simple-good", dove=bad)
        self.assertEqual(rc, 1)
        self.assertIn("dovecot-cache-key", self.ids(out, ("unsafe",)))

    def test_dovecot_without_service_per_protocol_is_a_note(self):
        one = os.path.join(self.w.root, "dove-one.txt")
        with open(one, "w") as f:
            f.write("passdb {\n  driver = pam\n}\n")
        rc, out = self.doctor("simple-good", dove=one)
        self.assertEqual(rc, 0)
        self.assertIn("dovecot-one-service", self.ids(out, ("note",)))

    def test_unsafe_store_directory(self):
        os.chmod(self.w.store, 0o777)
        rc, out = self.doctor("simple-good")
        self.assertEqual(rc, 1)
        self.assertIn("store-unsafe", self.ids(out, ("unsafe",)))

    def test_missing_store_directory(self):
        os.rmdir(self.w.store)
        rc, out = self.doctor("simple-good")
        self.assertEqual(rc, 1)
        self.assertIn("store-missing", self.ids(out))

    def test_users_in_the_0_2_0_layout_are_a_note(self):
        self.w.enable("alice", PW)
        self.w.enable("bob", PW)
        rc, out = self.doctor("simple-good", check=0)
        self.assertNotIn("store-0.2.0-users", self.ids(out))
        tl.make_legacy(self.w.store, "alice")
        tl.make_legacy(self.w.store, "bob")
        rc, out = self.doctor("simple-good", check=0)
        notes = [f for f in out["findings"] if f["id"] == "store-0.2.0-users"]
        self.assertEqual(len(notes), 1, out)
        self.assertEqual(notes[0]["severity"], "note")
        self.assertIn("2 users still in the 0.2.0 layout", notes[0]["problem"])
        self.assertIn("restart Dovecot", notes[0]["fix"])
        # A login moves alice (records/alice becomes the note): one left.
        svc = self.w.simple_service("alice")
        step = int(time.time()) // tl.PERIOD + 1
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", step)),
                         "PAM_SUCCESS")
        rc, out = self.doctor("simple-good", check=0)
        notes = [f for f in out["findings"] if f["id"] == "store-0.2.0-users"]
        self.assertIn("1 user still in the 0.2.0 layout", notes[0]["problem"])
        # bob moved by a CLI write: no note left.
        self.w.cli("unlock", "bob", check=0)
        rc, out = self.doctor("simple-good", check=0)
        self.assertNotIn("store-0.2.0-users", self.ids(out))

    def test_default_finds_services_mentioning_the_module(self):
        rc, out = self.doctor()
        self.assertIn("simple-good", out["services"])
        self.assertNotIn("mailotp-common", out["services"] if False else [])
        self.assertEqual(rc, 1)  # the broken ones are among them

    def test_unreadable_service(self):
        rc, out = self.doctor("no-such-service")
        self.assertEqual(rc, 1)
        self.assertIn("service-unreadable", self.ids(out))

    def test_text_output(self):
        res = self.w.cli("doctor", "--pamdir", self.pamdir, "--doveconf", self.dove,
                         "split-no-verify", check=1)
        self.assertIn("unsafe [split-without-verify] split-no-verify:1:", res.stdout)
        self.assertIn("fix: add after the password module", res.stdout)
        self.assertRegex(res.stdout, r"\d+ problems? found")
