# SPDX-License-Identifier: GPL-2.0-or-later
"""PAM-level tests of the self-service features: application passwords, last
logins, the webmail code prompt, reuse_grace and recovery codes, and that
libcrypto is loaded only for them (never for a plain code login).  The real
module in a real libpam stack; codes from oathtool."""
import json
import os
import re
import shutil
import subprocess
import time
import unittest

import mailotp_testlib as tl
from mailotp_testlib import PAMAUTH, WRAPPER, WorldTest

PW = "T9D3K!px"
APPPW_RE = r"^[a-km-np-z]{4}(-[a-km-np-z]{4}){4}$"


def jcli(w, *args, check=0):
    res = w.cli("--json", *args, check=check)
    return json.loads(res.stdout)


class AppPasswords(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.imap = self.w.simple_service("alice", name="imap")
        self.smtp = self.w.simple_service("alice", name="smtp")

    def add(self, name, *opts, user="alice"):
        out = jcli(self.w, "app-password", "add", user, name, *opts)
        self.assertRegex(out["password"], APPPW_RE)
        return out["password"]

    def test_app_password_logs_in_without_code_and_skips_password_module(self):
        pw = self.add("phone")
        self.assertEqual(self.w.login(self.imap, "alice", pw, rhost="198.51.100.4"), "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), [])  # success=done: the system password is not checked
        self.assertLogged(r'^6 result=success reason=app-password user="alice" service=imap '
                          r'rhost=198\.51\.100\.4 detail="app password phone"$')
        entry = jcli(self.w, "app-password", "list", "alice")["app_passwords"][0]
        self.assertEqual((entry["last_service"], entry["last_rhost"]), ("imap", "198.51.100.4"))
        self.assertIsNotNone(entry["last_used"])
        last = jcli(self.w, "last", "alice")["logins"][0]
        self.assertEqual((last["result"], last["method"], last["service"], last["rhost"]),
                         ("success", "app-password:phone", "imap", "198.51.100.4"))

    def test_typed_without_dashes_or_in_upper_case(self):
        pw = self.add("tablet")
        self.assertEqual(self.w.login(self.imap, "alice", pw.replace("-", "").upper()),
                         "PAM_SUCCESS")

    def test_works_for_users_without_totp(self):
        self.w.set_password("bob", "bobpw")
        svc = self.w.simple_service("bob", name="imap-bob")
        pw = self.add("sync", user="bob")
        self.assertEqual(self.w.login(svc, "bob", pw), "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), [])
        # ... and the plain password still works for bob (no 2FA).
        self.assertEqual(self.w.login(svc, "bob", "bobpw"), "PAM_SUCCESS")

    def test_service_scoping(self):
        pw = self.add("activesync", "--services", "imap")
        self.assertEqual(self.w.login(self.smtp, "alice", pw), "PAM_AUTH_ERR")
        self.assertLogged("result=failure reason=app-password-not-allowed")
        self.assertEqual(self.w.login(self.imap, "alice", pw), "PAM_SUCCESS")

    def test_no_app_passwords_option_bars_the_panel(self):
        pw = self.add("phone")
        panel = self.w.simple_service("alice", extra="no_app_passwords=panel,webmail", name="panel")
        # Not even considered: for a 2FA user it is a password without a code.
        self.assertEqual(self.w.login(panel, "alice", pw), "PAM_AUTH_ERR")
        self.assertLogged("reason=no-code")
        self.w.set_password("bob", "bobpw")
        bpw = self.add("phone", user="bob")
        bpanel = self.w.simple_service("bob", extra="no_app_passwords=panel", name="panel")
        # For a user without 2FA it goes to the password module, which refuses it.
        self.assertEqual(self.w.login(bpanel, "bob", bpw), "PAM_AUTH_ERR")
        self.assertEqual(self.w.expect_calls()[-1], "authtok=differ len=24")

    def test_expired_app_password_refused(self):
        pw = self.add("old", "--expires", "1")
        path = os.path.join(self.w.store, "apppw", "alice")
        with open(path) as f:
            text = f.read()
        # Move the expiry into the past (the file's 4th field of the entry).
        text = re.sub(r"^(app = old \S+ )(\d+) (\d+)", lambda m: "%s%s %d" % (
            m.group(1), int(m.group(2)) - 200000, int(m.group(2)) - 100000), text, flags=re.M)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        self.assertEqual(self.w.login(self.imap, "alice", pw), "PAM_AUTH_ERR")
        self.assertLogged("reason=app-password-expired")
        self.assertTrue(jcli(self.w, "app-password", "list", "alice")["app_passwords"][0]["expired"])

    def test_revocation_takes_effect_at_once(self):
        pw = self.add("phone")
        self.assertEqual(self.w.login(self.imap, "alice", pw), "PAM_SUCCESS")
        jcli(self.w, "app-password", "revoke", "alice", "phone")
        self.assertEqual(self.w.login(self.imap, "alice", pw), "PAM_AUTH_ERR")
        self.assertLogged("reason=no-code")

    def test_wrong_app_password_is_just_a_password_without_code(self):
        self.add("phone")
        self.assertEqual(self.w.login(self.imap, "alice", "abcd-efgh-ijkm-npqr-stuv"),
                         "PAM_AUTH_ERR")
        self.assertLogged("reason=no-code")

    def test_plain_password_of_2fa_user_still_refused(self):
        self.add("phone")
        self.assertEqual(self.w.login(self.imap, "alice", PW), "PAM_AUTH_ERR")

    def test_hardened_stack_accepts_app_password_at_split(self):
        pw = self.add("phone")
        svc = self.w.hardened_service("alice", name="imap-hard")
        self.assertEqual(self.w.login(svc, "alice", pw), "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), [])

    def test_no_lock_file_for_users_without_app_passwords(self):
        svc = self.w.simple_service("ghost", name="imap-ghost")
        self.w.set_password("ghost", "x")
        self.assertEqual(self.w.login(svc, "ghost", "abcd-efgh-ijkm-npqr-stuv"), "PAM_AUTH_ERR")
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "locks", "ghost")))

    @unittest.skipIf(WRAPPER, "instruction counting needs the plain binaries")
    def test_cost_does_not_grow_with_the_number_of_app_passwords(self):
        """Instructions counted by callgrind (deterministic), not seconds."""
        if shutil.which("valgrind") is None:
            self.fail("valgrind is required (apt-get install valgrind)")
        with open(PAMAUTH, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("sanitizer build: valgrind cannot run it (the plain build counts)")

        def instructions(user, pw):
            out = os.path.join(self.w.root, "cg.out")
            env = dict(os.environ)
            res = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                  PAMAUTH, "--confdir", self.w.confdir, "imap", user],
                                 input=pw + "\n", capture_output=True, text=True, env=env)
            self.assertIn("PAM_SUCCESS", res.stdout, res.stderr[-2000:])
            m = re.search(r"Collected : (\d+)", res.stderr) or re.search(
                r"refs:\s+([\d,]+)", res.stderr)
            self.assertIsNotNone(m, res.stderr[-2000:])
            return int(m.group(1).replace(",", ""))

        one = self.add("only", user="u1")
        many = [self.add("pw%02d" % i, user="u50") for i in range(50)]
        # Warm-up run, then measure with the matching password last in the list.
        instructions("u1", one)
        i1 = instructions("u1", one)
        i50 = instructions("u50", many[-1])
        # 49 more entries to parse and compare cost a little; 49 more keyed hashes
        # (or slow hashes) would cost far more.
        print("instructions: 1 app password %d, 50 app passwords %d" % (i1, i50))
        self.assertLess(i50 / i1, 1.10, (i1, i50))


class LastLogins(WorldTest):
    conf_text = "last_logins = 3\n"

    def test_outcomes_recorded_newest_first_and_bounded(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice", name="imap")
        good = self.w.code("alice", step + 1)
        bad = "%06d" % ((int(good) + 1) % 1000000)
        self.w.login(svc, "alice", PW + bad, rhost="203.0.113.1")
        self.w.login(svc, "alice", PW, rhost="203.0.113.2")
        tl.next_second()  # a code login after one without a code
        self.w.login(svc, "alice", PW + good, rhost="203.0.113.3")
        self.w.login(svc, "alice", PW + good, rhost="203.0.113.4")
        logins = jcli(self.w, "last", "alice")["logins"]
        self.assertEqual([(l["result"], l["reason"], l["rhost"]) for l in logins], [
            ("failure", "replayed-code", "203.0.113.4"),
            ("success", "code-accepted", "203.0.113.3"),
            ("failure", "no-code", "203.0.113.2"),
        ])
        self.assertEqual(logins[1]["method"], "code")
        self.assertEqual(logins[1]["service"], "imap")

    def test_users_without_2fa_leave_no_log(self):
        self.w.set_password("bob", "pw")
        svc = self.w.simple_service("bob", name="imap")
        self.w.login(svc, "bob", "pw")
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "last", "bob")))

    def test_unwritable_log_does_not_fail_the_login(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice", name="imap")
        last_dir = os.path.join(self.w.store, "last")
        os.makedirs(last_dir, mode=0o700, exist_ok=True)
        # A directory where the log file should be: every write of the log fails.
        os.mkdir(os.path.join(last_dir, "alice"), 0o700)
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", step + 1)),
                         "PAM_SUCCESS")
        # Written straight to the log (no code): the login still works, with a warning.
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        self.assertLogged("^4 last-logins log not written")
        # Code logins keep their entries with the state, then move last_logins (3) of
        # them to the log at once: that move fails too, and logins still work.
        bad = "%06d" % ((int(self.w.code("alice", step + 1)) + 1) % 1000000)
        for _ in range(3):
            self.assertEqual(self.w.login(svc, "alice", PW + bad), "PAM_AUTH_ERR")
        self.assertLogged("^4 last-logins log not written: pending last-logins entries lost")


class PromptMode(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)

    def test_second_prompt_answered_by_the_user(self):
        svc = self.w.simple_service("alice", extra="prompt [prompt_text=Token from app: ]",
                                    name="webmail")
        code = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", PW, mode="lines",
                                      extra_answers=[code[:3] + " " + code[3:]]), "PAM_SUCCESS")
        self.assertIn('hidden prompt "Token from app: "', self.w.last_stderr)
        self.assertEqual(self.w.expect_calls(), ["authtok=match len=%d" % len(PW)])

    def test_code_typed_in_the_password_field_still_works(self):
        svc = self.w.simple_service("alice", extra="prompt", name="webmail")
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", self.step + 1),
                                      mode="lines"), "PAM_SUCCESS")
        self.assertNotIn("Verification code", self.w.last_stderr)

    def test_wrong_code_in_second_prompt(self):
        svc = self.w.simple_service("alice", extra="prompt", name="webmail")
        good = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", PW, mode="lines",
                                      extra_answers=["%06d" % ((int(good) + 1) % 1000000)]),
                         "PAM_AUTH_ERR")
        self.assertLogged("reason=wrong-code")

    def test_dovecot_answers_the_second_prompt_with_the_password(self):
        svc = self.w.simple_service("alice", extra="prompt", name="imap")
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        self.assertLogged("reason=no-code")

    def test_without_prompt_no_second_prompt(self):
        svc = self.w.simple_service("alice", name="webmail")
        self.assertEqual(self.w.login(svc, "alice", PW, mode="lines", extra_answers=["123456"]),
                         "PAM_AUTH_ERR")
        self.assertEqual(self.w.last_stderr.count("hidden prompt"), 1)

    def test_hardened_stack_with_prompt(self):
        svc = self.w.hardened_service("alice", extra="prompt", name="webmail-hard")
        self.assertEqual(self.w.login(svc, "alice", PW, mode="lines",
                                      extra_answers=[self.w.code("alice", self.step + 1)]),
                         "PAM_SUCCESS")


class ReuseGrace(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)

    def test_same_string_same_host_within_grace(self):
        svc = self.w.simple_service("alice", extra="reuse_grace=30", name="imap")
        s = PW + self.w.code("alice", self.step + 1)
        for _ in range(3):
            self.assertEqual(self.w.login(svc, "alice", s, rhost="192.0.2.50"), "PAM_SUCCESS")
        self.assertLogged("reason=code-reused-within-grace")
        self.assertEqual(self.w.login(svc, "alice", s, rhost="192.0.2.51"), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        svc2 = self.w.simple_service("alice", extra="reuse_grace=30", name="smtp")
        self.assertEqual(self.w.login(svc2, "alice", s, rhost="192.0.2.50"), "PAM_AUTH_ERR")

    def test_different_password_with_same_code_is_a_replay(self):
        svc = self.w.simple_service("alice", extra="reuse_grace=30", name="imap")
        code = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", PW + code), "PAM_SUCCESS")
        self.assertEqual(self.w.login(svc, "alice", "other" + code), "PAM_AUTH_ERR")

    def test_grace_expires(self):
        svc = self.w.simple_service("alice", extra="reuse_grace=1", name="imap")
        s = PW + self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", s), "PAM_SUCCESS")
        time.sleep(2.2)
        self.assertEqual(self.w.login(svc, "alice", s), "PAM_AUTH_ERR")

    def test_off_by_default(self):
        svc = self.w.simple_service("alice", name="imap")
        s = PW + self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", s), "PAM_SUCCESS")
        self.assertEqual(self.w.login(svc, "alice", s), "PAM_AUTH_ERR")

    def test_state_keeps_a_fingerprint_never_the_string(self):
        svc = self.w.simple_service("alice", extra="reuse_grace=30", name="imap")
        code = self.w.code("alice", self.step + 1)
        self.w.login(svc, "alice", PW + code)
        with open(self.w.user_file("alice"), "rb") as f:
            raw = f.read()
        state = tl.decode_user(raw)[1]
        self.assertRegex(state, r"(?m)^grace = [0-9a-f]{64}$")
        # Neither in what a reader gets nor anywhere in the file (both slots, the padding).
        for secret in (PW, code):
            self.assertNotIn(secret, state)
            self.assertNotIn(secret.encode(), raw)

    def test_hardened_stack_with_grace(self):
        svc = self.w.hardened_service("alice", extra="reuse_grace=30", name="imap-hard")
        s = PW + self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", s), "PAM_SUCCESS")
        self.assertEqual(self.w.login(svc, "alice", s), "PAM_SUCCESS")
        self.assertEqual(self.w.login(svc, "alice", s, rhost="192.0.2.99"), "PAM_AUTH_ERR")


class RecoveryCodes(WorldTest):
    conf_text = "lockout_after = 1\nlockout_delay = 60\n"

    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.codes = jcli(self.w, "recovery-codes", "alice")["codes"]
        self.svc = self.w.simple_service("alice", name="imap")

    def test_recovery_code_logs_in_once(self):
        code = self.codes[3]
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), ["authtok=match len=%d" % len(PW)])
        self.assertLogged(r'reason=recovery-code-accepted .*detail="9 recovery codes left"')
        self.assertEqual(jcli(self.w, "status", "alice")["recovery_codes_left"], 9)
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_AUTH_ERR")
        self.assertEqual(jcli(self.w, "last", "alice")["logins"][1]["method"], "recovery-code")

    def test_upper_case_accepted(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.codes[0].upper()),
                         "PAM_SUCCESS")

    def test_regenerating_replaces_all(self):
        old = self.codes[0]
        new = jcli(self.w, "recovery-codes", "alice")["codes"]
        self.assertEqual(len(set(new) & set(self.codes)), 0)
        self.assertEqual(self.w.login(self.svc, "alice", PW + old), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(self.svc, "alice", PW + new[0]), "PAM_SUCCESS")

    def test_wrong_recovery_code_counts_and_locks(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + "abcde-fghij"), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(self.svc, "alice", PW + "abcde-fghik"), "PAM_AUTH_ERR")
        self.assertEqual(jcli(self.w, "status", "alice")["failures"], 2)
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.codes[0]), "PAM_MAXTRIES")
        self.assertEqual(jcli(self.w, "status", "alice")["recovery_codes_left"], 10)

    def test_hardened_stack(self):
        svc = self.w.hardened_service("alice", name="imap-hard")
        self.assertEqual(self.w.login(svc, "alice", "wrong" + self.codes[1]), "PAM_AUTH_ERR")
        self.assertEqual(jcli(self.w, "status", "alice")["recovery_codes_left"], 10)
        self.assertEqual(self.w.login(svc, "alice", PW + self.codes[1]), "PAM_SUCCESS")
        self.assertEqual(jcli(self.w, "status", "alice")["recovery_codes_left"], 9)

    def test_disable_removes_recovery_codes(self):
        self.w.cli("disable", "--force", "alice", check=0)
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "recovery", "alice")))

    def test_not_enrolled(self):
        out = jcli(self.w, "recovery-codes", "nobody", check=3)
        self.assertEqual(out["code"], "not-enrolled")


if __name__ == "__main__":
    unittest.main()


class LazyLibcrypto(WorldTest):
    """libcrypto is dlopen()ed only for a keyed hash: application passwords, recovery
    codes and reuse_grace map it into the auth process; a plain code login, a wrong
    code and a user without 2FA never do (pamauth reports /proc/self/maps)."""

    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        # alice has everything that needs a keyed hash, but uses none of it below.
        self.app_pw = jcli(self.w, "app-password", "add", "alice", "phone")["password"]
        self.codes = jcli(self.w, "recovery-codes", "alice")["codes"]
        self.svc = self.w.simple_service("alice", name="imap")

    def login(self, svc, answer, user="alice"):
        return self.w.login_maps_libcrypto(svc, user, answer)

    def test_code_login_does_not_map_libcrypto(self):
        self.assertEqual(self.login(self.svc, PW + self.w.code("alice", self.step + 1)),
                         ("PAM_SUCCESS", False))
        self.assertLogged("reason=code-accepted")

    def test_hardened_code_login_does_not_map_libcrypto(self):
        svc = self.w.hardened_service("alice", name="imap-hard")
        self.assertEqual(self.login(svc, PW + self.w.code("alice", self.step + 1)),
                         ("PAM_SUCCESS", False))

    def test_wrong_code_does_not_map_libcrypto(self):
        good = self.w.code("alice", self.step + 1)
        wrong = "%06d" % ((int(good) + 1) % 1000000)
        self.assertEqual(self.login(self.svc, PW + wrong), ("PAM_AUTH_ERR", False))

    def test_user_without_2fa_does_not_map_libcrypto(self):
        self.w.set_password("bob", "bobpw")
        svc = self.w.simple_service("bob", name="imap-bob")
        self.assertEqual(self.login(svc, "bobpw", user="bob"), ("PAM_SUCCESS", False))

    def test_app_password_maps_libcrypto(self):
        self.assertEqual(self.login(self.svc, self.app_pw), ("PAM_SUCCESS", True))
        self.assertLogged("reason=app-password")

    def test_recovery_code_maps_libcrypto(self):
        self.assertEqual(self.login(self.svc, PW + self.codes[0]), ("PAM_SUCCESS", True))

    def test_reuse_grace_maps_libcrypto(self):
        svc = self.w.simple_service("alice", extra="reuse_grace=30", name="imap-grace")
        s = PW + self.w.code("alice", self.step + 1)
        self.assertEqual(self.login(svc, s), ("PAM_SUCCESS", True))
        self.assertEqual(self.login(svc, s), ("PAM_SUCCESS", True))
        self.assertLogged("reason=code-reused-within-grace")
