# SPDX-License-Identifier: GPL-2.0-or-later
"""PAM-level tests: the real module in a real libpam stack (pam_start_confdir).

The stand-in password module (pam_expect_authtok) after pam_mailotp succeeds
only when PAM_AUTHTOK is exactly the bare password, so every success below
also proves what was forwarded.
"""
import calendar
import fcntl
import json
import os
import subprocess
import time
import unittest

import mailotp_testlib as tl
from mailotp_testlib import PAMAUTH, WRAPPER, WorldTest

PW = "T9D3K!px"


class SimpleStack(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.svc = self.w.simple_service("alice")

    def test_password_plus_code_succeeds_and_forwards_bare_password(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1)),
                         "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), ["authtok=match len=%d" % len(PW)])
        self.assertLogged(r'^6 result=success reason=code-accepted user="alice" service=%s '
                          r'rhost=192\.0\.2\.7$' % self.svc)

    def test_wrong_code_refused_and_password_module_not_reached(self):
        good = self.w.code("alice", self.step + 1)
        bad = "%06d" % ((int(good) + 1) % 1000000)
        self.assertEqual(self.w.login(self.svc, "alice", PW + bad), "PAM_AUTH_ERR")
        self.assertEqual(self.w.expect_calls(), [])
        self.assertLogged(r"result=failure reason=wrong-code .* failures=1$")
        self.assertEqual(self.w.status("alice")["failures"], "1")

    def test_wrong_password_with_right_code_refused_by_password_module(self):
        code = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", "nope" + code), "PAM_AUTH_ERR")
        self.assertEqual(self.w.expect_calls(), ["authtok=differ len=4"])
        # Simple stack: the code was checked first and is now used up.
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")

    def test_replayed_code_refused_and_not_counted(self):
        code = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_SUCCESS")
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_AUTH_ERR")
        self.assertLogged("result=failure reason=replayed-code")
        self.assertEqual(self.w.status("alice")["failures"], "0")

    def test_code_of_the_confirmation_step_is_a_replay(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step)),
                         "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")

    def test_older_step_after_newer_success_is_a_replay(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1)),
                         "PAM_SUCCESS")
        # A step inside the window but not newer than the last accepted one.
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step)),
                         "PAM_AUTH_ERR")

    def test_password_alone_refused_not_counted(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTH_ERR")
        self.assertLogged("result=failure reason=no-code")
        self.assertEqual(self.w.expect_calls(), [])
        self.assertEqual(self.w.status("alice")["failures"], "0")

    def test_code_alone_refused(self):
        self.assertEqual(self.w.login(self.svc, "alice", self.w.code("alice", self.step + 1)),
                         "PAM_AUTH_ERR")
        self.assertLogged("reason=no-code")

    def test_case_variant_of_username_still_needs_the_code(self):
        svc = self.w.simple_service("alice", name="case")
        self.assertEqual(self.w.login(svc, "ALICE", PW), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(svc, "Alice", PW + self.w.code("alice", self.step + 1)),
                         "PAM_SUCCESS")

    def test_pamtester_like_conversation(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1),
                                      mode="lines"), "PAM_SUCCESS")

    def test_without_rhost_logs_dash(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1),
                                      rhost=None), "PAM_SUCCESS")
        self.assertLogged(r"rhost=-$")

    def test_overlong_submission_refused(self):
        self.assertEqual(self.w.login(self.svc, "alice", "x" * 5000 + self.w.code("alice", self.step + 1)),
                         "PAM_AUTH_ERR")
        self.assertLogged("reason=password-too-long")

    def test_non_ascii_digits_are_not_a_code(self):
        fullwidth = "\uff11\uff12\uff13\uff14\uff15\uff16"
        self.assertEqual(self.w.login(self.svc, "alice", PW + fullwidth), "PAM_AUTH_ERR")
        self.assertLogged("reason=no-code")

    def test_nothing_secret_in_logs(self):
        code = self.w.code("alice", self.step + 1)
        self.w.login(self.svc, "alice", PW + code)
        self.w.login(self.svc, "alice", PW + "000000")
        self.w.login(self.svc, "alice", PW + code)
        text = "\n".join(self.w.log_lines())
        self.assertTrue(text)
        for secret in (PW, code, self.w.secrets["alice"]):
            self.assertNotIn(secret, text)


class UsersWithout2FA(WorldTest):
    def test_unenrolled_user_passes_whole_string_through(self):
        svc = self.w.simple_service("bob")
        self.w.set_password("bob", "hunter2123456")  # ends in digits: still the whole password
        self.assertEqual(self.w.login(svc, "bob", "hunter2123456"), "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), ["authtok=match len=13"])

    def test_unenrolled_user_wrong_password_refused(self):
        svc = self.w.simple_service("bob")
        self.w.set_password("bob", "right")
        self.assertEqual(self.w.login(svc, "bob", "wrong"), "PAM_AUTH_ERR")

    def test_pending_enrollment_counts_as_no_2fa(self):
        self.w.enroll("carol")
        self.w.set_password("carol", "pw")
        svc = self.w.simple_service("carol")
        self.assertEqual(self.w.login(svc, "carol", "pw"), "PAM_SUCCESS")

    def test_enforce_refuses_users_without_2fa(self):
        self.w.enable("alice", PW)  # the store exists and has someone in it
        self.w.set_password("bob", "pw")
        svc = self.w.simple_service("bob", extra="enforce")
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_AUTH_ERR")
        self.assertLogged("reason=not-enrolled-enforce")

    def test_unenrolled_user_hardened_stack(self):
        self.w.set_password("bob", "pw")
        svc = self.w.hardened_service("bob")
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_SUCCESS")

    def test_store_without_subdirectories_means_nobody_enrolled(self):
        self.w.set_password("bob", "pw")
        self.assertEqual(self.w.login(self.w.simple_service("bob"), "bob", "pw"), "PAM_SUCCESS")


class HardenedStack(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.svc = self.w.hardened_service("alice")

    def test_success(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1)),
                         "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), ["authtok=match len=%d" % len(PW)])
        self.assertLogged("result=success reason=code-accepted")

    def test_wrong_password_neither_uses_code_nor_counts(self):
        code = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", "wrong" + code), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(self.svc, "alice", "wrong" + code), "PAM_AUTH_ERR")
        self.assertEqual(self.w.status("alice")["failures"], "0")
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_SUCCESS")

    def test_wrong_code_with_right_password_counts(self):
        good = self.w.code("alice", self.step + 1)
        bad = "%06d" % ((int(good) + 7) % 1000000)
        self.assertEqual(self.w.login(self.svc, "alice", PW + bad), "PAM_AUTH_ERR")
        self.assertEqual(self.w.status("alice")["failures"], "1")

    def test_replay(self):
        code = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_SUCCESS")
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")

    def test_password_alone_refused_by_split(self):
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTH_ERR")
        self.assertEqual(self.w.expect_calls(), [])

    def test_verify_without_split_fails_closed(self):
        svc = self.w.service("verify-only", self.w.expect_line("alice", "requisite", prompt=True)
                             + "auth required %s verify %s\n" % (os.environ["MAILOTP_MODULE"],
                                                                 self.w.common_args()))
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        self.assertLogged("reason=no-stashed-code")


class Lockout(WorldTest):
    # Long enough that a slow run (valgrind) still sees the lock; the recovery test
    # then waits for the stored locked_until instead of guessing a sleep.
    conf_text = "lockout_after = 2\nlockout_delay = 8\nlockout_max = 16\n"

    def test_backoff_then_recovery(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice")
        good = self.w.code("alice", step + 1)
        bad = "%06d" % ((int(good) + 3) % 1000000)
        for _ in range(2):
            self.assertEqual(self.w.login(svc, "alice", PW + bad), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(svc, "alice", PW + bad), "PAM_AUTH_ERR")
        self.assertLogged(r"reason=wrong-code .* failures=3 locked_until=\d+$")
        # While locked even the right code is refused, without being checked or counted.
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_MAXTRIES")
        self.assertLogged("result=failure reason=locked-out")
        self.assertEqual(self.w.status("alice")["failures"], "3")
        res = self.w.cli("--json", "status", "alice", check=0)
        until = json.loads(res.stdout)["locked_until"]
        self.assertIsNotNone(until)
        end = calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ"))
        time.sleep(max(0.0, end - time.time()) + 1.1)
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_SUCCESS")
        self.assertEqual(self.w.status("alice")["failures"], "0")

    def test_unlock_lifts_the_backoff(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice")
        good = self.w.code("alice", step + 1)
        bad = "%06d" % ((int(good) + 3) % 1000000)
        for _ in range(3):
            self.w.login(svc, "alice", PW + bad)
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_MAXTRIES")
        self.w.cli("unlock", "alice", check=0)
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_SUCCESS")


def flip(data, pos):
    """data with one bit of the byte at pos flipped."""
    return data[:pos] + bytes([data[pos] ^ 1]) + data[pos + 1:]


class FailClosed(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.svc = self.w.simple_service("alice")
        self.user = self.w.user_file("alice")
        with open(self.user, "rb") as f:
            self.good_image = f.read()

    def login_ok_code(self):
        return self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1))

    def put_image(self, data):
        """Replace users/alice by data (a fresh 0600 file)."""
        with open(self.user + ".harness", "wb") as f:
            f.write(data)
        os.chmod(self.user + ".harness", 0o600)
        os.rename(self.user + ".harness", self.user)

    def image(self):
        with open(self.user, "rb") as f:
            return f.read()

    def test_corrupt_record(self):
        rec, st = tl.read_user(self.w.store, "alice")
        variants = {
            # The record part does not parse; the state part after it is intact.
            "record part": lambda: tl.write_user(self.w.store, "alice",
                                                 record="version = 1\nstatus = enab\nend\n"),
            # A valid slot whose payload has no "end" line: no record in it at all.
            "no end line": lambda: self.put_image(
                tl.encode_state_file((7, "version = 1\nstatus = enab"))),
            # No valid slot: one bit of each slot's payload flipped.
            "no valid slot": lambda: self.put_image(flip(flip(self.good_image, 40),
                                                         tl.SLOT_SIZE + 40)),
            # A 0.2.0 record (records/alice) that does not parse.
            "0.2.0 record": lambda: self.legacy_record("version = 1\nstatus = enab"),
        }
        self.assertEqual([sl is not None for sl in tl.state_slots(self.good_image)],
                         [True, True])
        for name, spoil in variants.items():
            with self.subTest(name):
                self.put_image(self.good_image)
                spoil()
                files = self.store_files()
                self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
                self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
                self.assertLogged("result=error reason=corrupt-data")
                # Failing closed writes nothing: the state is not stored without its record.
                self.assertEqual(self.store_files(), files)
                self.cleanup_legacy()
        self.assertEqual((rec, st), tl.decode_user(self.good_image))

    def legacy_record(self, text):
        tl.make_legacy(self.w.store, "alice")
        with open(os.path.join(self.w.store, "records", "alice"), "w") as f:
            f.write(text)

    def cleanup_legacy(self):
        for sub in ("records", "state"):
            d = os.path.join(self.w.store, sub)
            if os.path.isdir(d):
                for n in os.listdir(d):
                    os.unlink(os.path.join(d, n))
                os.rmdir(d)

    def store_files(self):
        out = {}
        for dirpath, _, names in os.walk(self.w.store):
            for n in names:
                p = os.path.join(dirpath, n)
                rel = os.path.relpath(p, self.w.store)
                if rel.startswith("last/"):
                    continue
                with open(p, "rb") as f:
                    out[rel] = f.read()
        return out

    def test_world_readable_record(self):
        os.chmod(self.user, 0o644)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=unsafe-file")

    def test_world_readable_record_of_0_2_0(self):
        tl.make_legacy(self.w.store, "alice")
        os.chmod(os.path.join(self.w.store, "records", "alice"), 0o644)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=unsafe-file")
        self.assertFalse(os.path.exists(self.user))

    def test_symlinked_record(self):
        target = os.path.join(self.w.root, "elsewhere")
        os.rename(self.user, target)
        os.symlink(target, self.user)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=unsafe-file")

    def test_record_is_a_directory(self):
        os.unlink(self.user)
        os.mkdir(self.user, 0o700)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")

    def test_hard_linked_record(self):
        os.link(self.user, os.path.join(self.w.root, "second-name"))
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")

    def test_missing_store_directory_fails_closed_for_everyone(self):
        self.w.set_password("bob", "pw")
        svc = self.w.simple_service("bob", name="bob")
        with open(os.path.join(self.w.confdir, svc)) as f:
            text = f.read().replace(self.w.store, self.w.store + "-typo")
        svc = self.w.service("nostore", text)
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_AUTHINFO_UNAVAIL")

    def test_group_writable_store_directory(self):
        os.chmod(self.w.store, 0o770)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")

    def test_missing_state_fails_closed_until_unlock(self):
        rec = self.w.record_text("alice")
        tl.write_user(self.w.store, "alice", state="")  # the record alone, as if pending
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=wrong-state")
        self.w.cli("unlock", "alice", check=0)
        self.assertEqual(self.w.record_text("alice"), rec)
        self.assertTrue(tl.state_complete(self.w.state_text("alice")))
        # unlock rebuilt the state at the current step: the next step's code works.
        now_step = int(time.time()) // 30
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", now_step + 1)),
                         "PAM_SUCCESS")

    def test_corrupt_state(self):
        tl.write_user(self.w.store, "alice", state="garbage\n")
        img = self.image()
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        self.assertEqual(self.image(), img)

    def test_corrupt_state_rebuilt_only_by_unlock_force(self):
        rec = self.w.record_text("alice")
        tl.write_user(self.w.store, "alice", state="# pam_mailotp user state\nversion = 9\nend\n")
        img = self.image()
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        res = self.w.cli("unlock", "alice", check=4)
        self.assertIn("mailotp unlock --force", res.stderr)
        self.assertEqual(self.image(), img, "unlock without --force wrote")
        obj = json.loads(self.w.cli("--json", "unlock", "--force", "alice", check=0).stdout)
        self.assertEqual(obj, {"user": "alice", "failures": 0, "state_rebuilt": True})
        # The record is kept byte for byte; the state starts at the current step, so no
        # code up to now can be used again, and the next step's code logs in once.
        self.assertEqual(self.w.record_text("alice"), rec)
        fields = tl.state_fields(self.w.state_text("alice"))
        now_step = int(time.time()) // 30
        self.assertIn(int(fields["last_step"]), (now_step - 1, now_step))
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", now_step - 1)),
                         "PAM_AUTH_ERR")
        code = self.w.code("alice", now_step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_SUCCESS")
        self.assertEqual(self.w.login(self.svc, "alice", PW + code), "PAM_AUTH_ERR")

    def test_unwritable_state_fails_the_login(self):
        # Root ignores permissions: replace users/ by a file, then (where the file system
        # and the capabilities allow it) make users/alice immutable, so that it still
        # reads but the in-place slot write is refused (EPERM).
        users = os.path.join(self.w.store, "users")
        os.rename(users, users + ".moved")
        with open(users, "w") as f:
            f.write("not a directory\n")
        os.chmod(users, 0o600)
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        os.unlink(users)
        os.rename(users + ".moved", users)
        if subprocess.run(["chattr", "+i", self.user], capture_output=True).returncode != 0:
            self.skipTest("chattr +i not possible here (the users/ directory case ran)")
        self.addCleanup(subprocess.run, ["chattr", "-i", self.user], capture_output=True)
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("result=error reason=io-error .*Operation not permitted")
        self.assertEqual(self.image(), self.good_image)
        subprocess.run(["chattr", "-i", self.user], check=True)
        self.assertEqual(self.login_ok_code(), "PAM_SUCCESS")

    def test_stale_temp_file_does_not_block(self):
        stale = os.path.join(self.w.store, "users", ".alice.0123456789ab")
        with open(stale, "w") as f:
            f.write("half a user file")
        os.chmod(stale, 0o600)
        self.assertEqual(self.login_ok_code(), "PAM_SUCCESS")
        self.assertTrue(os.path.exists(stale))
        self.assertEqual(int(tl.state_fields(self.w.state_text("alice"))["last_step"]),
                         self.step + 1)

    def test_lock_held_too_long_times_out(self):
        svc = self.w.simple_service("alice", extra="lock_timeout=1", name="lt")
        fd = os.open(os.path.join(self.w.store, "locks", "alice"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            t0 = time.monotonic()
            self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", self.step + 1)),
                             "PAM_AUTHINFO_UNAVAIL")
            self.assertLess(time.monotonic() - t0, 10)
            self.assertLogged("reason=lock-timeout")
        finally:
            os.close(fd)
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", self.step + 1)),
                         "PAM_SUCCESS")

    def test_digits_mismatch_with_record(self):
        svc = self.w.simple_service("alice", extra="digits=8", name="d8")
        self.assertEqual(self.w.login(svc, "alice", PW + "12345678"), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged('detail="record has 6-digit codes, configuration says digits=8"$')


class BadOptionsAndNames(WorldTest):
    def test_unknown_option(self):
        self.w.set_password("bob", "pw")
        svc = self.w.simple_service("bob", extra="frobnicate=1")
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_SERVICE_ERR")
        self.assertLogged('configuration error: unknown option "frobnicate"')

    def test_bad_number(self):
        svc = self.w.simple_service("bob", extra="window=eleven")
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_SERVICE_ERR")
        self.assertLogged("window: expected a whole number")

    def test_bad_config_file_key(self):
        with open(self.w.conf, "w") as f:
            f.write("window = 1\nbogus = 2\n")
        svc = self.w.simple_service("bob")
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_SERVICE_ERR")
        self.assertLogged('line 2: unknown key "bogus"')

    def test_world_writable_config_file(self):
        os.chmod(self.w.conf, 0o666)
        svc = self.w.simple_service("bob")
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_SERVICE_ERR")

    def test_relative_dir(self):
        svc = self.w.service("rel", "auth [success=done ignore=ignore default=die] %s dir=store conf=%s\n"
                             % (os.environ["MAILOTP_MODULE"], self.w.conf) + self.w.expect_line("bob"))
        self.assertEqual(self.w.login(svc, "bob", "pw"), "PAM_SERVICE_ERR")

    def test_hostile_usernames_refused(self):
        self.w.enable("alice", PW)
        svc = self.w.simple_service("alice")
        for name in ("../records/alice", "a/b", ".alice", "..", "x" * 256, "tab\there"):
            self.assertEqual(self.w.login(svc, name, PW), "PAM_USER_UNKNOWN", name)
        self.assertLogged(r'reason=invalid-argument user="tab\\x09here"')


class Concurrency(WorldTest):
    def race_one_code(self, svc, answer, n=12):
        """n pamauth processes send the same answer at once: exactly one gets in, the
        others are refused as replays."""
        env = dict(os.environ, PAMAUTH_SYSLOG=self.w.syslog)
        procs = [subprocess.Popen(WRAPPER + [PAMAUTH, "--confdir", self.w.confdir, svc, "alice"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env)
                 for _ in range(n)]
        for p in procs:
            p.stdin.write(answer)
            p.stdin.close()
        results = [p.stdout.read().split()[0] for p in procs]
        for p in procs:
            p.stdout.close()
            p.wait(timeout=120)
            self.assertNotEqual(p.returncode, 99, "memory checker reported errors")
        self.assertEqual(results.count("PAM_SUCCESS"), 1, results)
        self.assertEqual(results.count("PAM_AUTH_ERR"), n - 1, results)
        self.assertEqual(sum("reason=replayed-code" in l for l in self.w.log_lines()), n - 1)

    def test_same_code_from_many_processes_exactly_one_success(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice")
        self.race_one_code(svc, PW + self.w.code("alice", step + 1) + "\n")

    def test_same_code_during_the_move_of_a_0_2_0_user_exactly_one_success(self):
        """Twelve logins with one code race to move a 0.2.0 user: the lock makes one of
        them move it and succeed; the others read the moved user and see a replay."""
        step = self.w.enable("alice", PW)
        rec = self.w.record_text("alice")
        tl.make_legacy(self.w.store, "alice")
        svc = self.w.simple_service("alice")
        self.race_one_code(svc, PW + self.w.code("alice", step + 1) + "\n")
        r, st = tl.read_user(self.w.store, "alice")
        self.assertEqual(r, rec)
        self.assertEqual(int(tl.state_fields(st)["last_step"]), step + 1)
        with open(os.path.join(self.w.store, "records", "alice"), "rb") as f:
            self.assertEqual(f.read(), tl.MOVED_RECORD)
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "state", "alice")))


class Migration(tl.LegacyUserTest):
    """A user of 0.2.0 (records/KEY, state/KEY): read as it is, moved into users/KEY by
    the first write under the user's lock (users/KEY first, then records/KEY replaced by
    MOVED_RECORD, then state/KEY removed); a store without users/ (not yet opened by the
    0.3.0 CLI) is written in the 0.2.0 layout by the module."""

    def legacy_files(self):
        return self.read(self.records), self.read(self.state_path)

    def login(self, answer):
        return self.w.login(self.svc, "alice", PW + answer)

    def wrong(self, step):
        return "%06d" % ((int(self.w.code("alice", step)) + 1) % 1000000)

    def assertMoved(self, state_fields):
        """users/alice: the record as it was and a state with these fields; records/alice
        says moved; state/alice is gone; no temporary file anywhere."""
        rec, state = tl.read_user(self.w.store, "alice")
        self.assertEqual(rec, self.rec)
        self.assertTrue(tl.state_complete(state), state)
        fields = tl.state_fields(state)
        self.assertEqual({k: fields[k] for k in state_fields}, state_fields)
        self.assertEqual(self.read(self.records), tl.MOVED_RECORD)
        self.assertFalse(os.path.exists(self.state_path))
        st = os.stat(self.user)
        self.assertEqual((st.st_mode & 0o777, st.st_nlink), (0o600, 1))
        for sub in ("users", "records", "state"):
            self.assertFalse([n for n in os.listdir(os.path.join(self.w.store, sub))
                              if n.startswith(".")], "temporary file left in %s/" % sub)

    def test_a_login_moves_the_user(self):
        before = self.legacy_files()
        # Read from the 0.2.0 files: the confirmation's code is a replay (nothing written).
        self.assertEqual(self.login(self.w.code("alice", self.step)), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        self.assertEqual(self.legacy_files(), before)
        self.assertFalse(os.path.exists(self.user))
        # The first login that stores a state moves the user.
        good = self.w.code("alice", self.step + 1)
        self.assertEqual(self.login(good), "PAM_SUCCESS")
        self.assertMoved({"last_step": str(self.step + 1), "failures": "0"})
        img = self.read(self.user)
        slots = tl.state_slots(img)
        self.assertEqual((slots[0].seq, slots[1]), (1, None))
        ino = os.stat(self.user).st_ino
        # Codes used before and by the move are replays now, read from users/alice.
        for code in (good, self.w.code("alice", self.step)):
            self.assertEqual(self.login(code), "PAM_AUTH_ERR")
            self.assertEqual(self.w.last_log().split()[2], "reason=replayed-code")
        # The user keeps working: a guess is counted, in place.
        self.assertEqual(self.login(self.wrong(self.step + 1)), "PAM_AUTH_ERR")
        self.assertLogged("reason=wrong-code .* failures=1$")
        self.assertEqual(os.stat(self.user).st_ino, ino)
        self.assertEqual(tl.current_slot(self.read(self.user))[1].seq, 2)
        self.assertMoved({"last_step": str(self.step + 1), "failures": "1"})
        self.assertEqual(self.w.status("alice")["failures"], "1")
        # records/alice stays the note (a 0.2.0 module must not read "no 2FA").
        self.assertEqual(self.read(self.records), tl.MOVED_RECORD)

    def test_hardened_stack_moves_the_user(self):
        svc = self.w.hardened_service("alice")
        good = self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_SUCCESS")
        self.assertMoved({"last_step": str(self.step + 1), "failures": "0"})
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")

    def test_a_wrong_code_moves_the_user_and_is_counted(self):
        self.assertEqual(self.login(self.wrong(self.step + 1)), "PAM_AUTH_ERR")
        self.assertMoved({"last_step": str(self.step), "failures": "1"})
        self.assertEqual(self.login(self.w.code("alice", self.step)), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        self.assertEqual(self.login(self.w.code("alice", self.step + 1)), "PAM_SUCCESS")

    def test_moved_record_without_user_file_fails_closed(self):
        self.assertEqual(self.login(self.w.code("alice", self.step + 1)), "PAM_SUCCESS")
        os.unlink(self.user)
        # Not "no 2FA": the record is somewhere, just not where it should be.
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("result=error reason=corrupt-data")
        self.assertEqual(self.login(self.w.code("alice", self.step + 1)),
                         "PAM_AUTHINFO_UNAVAIL")
        self.assertEqual(self.read(self.records), tl.MOVED_RECORD)
        self.assertFalse(os.path.exists(self.user))
        self.w.cli("status", "alice", check=4)
        self.w.cli("unlock", "alice", check=4)
        self.assertFalse(os.path.exists(self.user), "a state stored without its record")

    def test_store_of_0_2_0_without_users_directory(self):
        os.rmdir(os.path.join(self.w.store, "users"))
        ino = os.stat(self.state_path).st_ino
        img = self.read(self.state_path)
        good = self.w.code("alice", self.step + 1)
        self.assertEqual(self.login(good), "PAM_SUCCESS")
        # Written as 0.2.0 wrote it: state/alice in place (the older slot), nothing moved.
        new = self.read(self.state_path)
        self.assertEqual(os.stat(self.state_path).st_ino, ino, "state/alice replaced")
        self.assertEqual(len(new), 8192)
        self.assertEqual([(i, sl.seq) for i, sl in [tl.current_slot(img), tl.current_slot(new)]],
                         [(0, 1), (1, 2)])
        self.assertEqual(new[:4096], img[:4096], "the current slot was touched")
        self.assertEqual(int(tl.state_fields(tl.decode_state(new))["last_step"]), self.step + 1)
        self.assertEqual(self.read(self.records).decode(), self.rec)
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "users")),
                         "the module made users/")
        self.assertEqual(self.login(good), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        self.assertEqual(self.login(self.wrong(self.step + 1)), "PAM_AUTH_ERR")
        self.assertEqual(tl.state_fields(tl.read_state(self.state_path))["failures"], "1")
        self.assertEqual(os.stat(self.state_path).st_ino, ino)
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "users")))
        # The 0.3.0 CLI lays the store out (users/), reads the 0.2.0 files, moves nothing.
        st = self.w.status("alice")
        self.assertEqual((st["status"], st["failures"]), ("enabled", "1"))
        self.assertEqual(os.listdir(os.path.join(self.w.store, "users")), [])
        self.assertEqual(self.read(self.records).decode(), self.rec)
        # From now on the first write moves the user.
        self.assertEqual(self.login(self.wrong(self.step + 1)), "PAM_AUTH_ERR")
        self.assertMoved({"last_step": str(self.step + 1), "failures": "2"})
        self.assertEqual(self.login(good), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")

class StoreFormats(WorldTest):
    """The on-disk formats, read with the independent decoders of mailotp_testlib: the
    user file (record + state) is a two-slot file rewritten in place (the older slot, the
    next sequence number, the other slot untouched, the same inode, no temporary file);
    the last-logins log is appended to and rewritten with the newest `keep` entries every
    `keep` logins; the formats of 0.1.0 and the layout of 0.2.0 are still read, and
    replaced at the next write."""
    conf_text = "last_logins = 3\n"

    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.svc = self.w.simple_service("alice")
        self.user_path = self.w.user_file("alice")
        self.last_path = os.path.join(self.w.store, "last", "alice")

    def image(self, path=None):
        with open(path or self.user_path, "rb") as f:
            return f.read()

    def wrong(self):
        good = self.w.code("alice", self.step + 1)
        return PW + "%06d" % ((int(good) + 1) % 1000000)

    def test_new_user_file_is_slot_zero_sequence_one(self):
        secret = self.w.enroll("bob")
        path = self.w.user_file("bob")
        img = self.image(path)
        st = os.stat(path)
        self.assertEqual((len(img), st.st_mode & 0o777, st.st_nlink), (8192, 0o600, 1))
        slots = tl.state_slots(img)
        self.assertEqual(slots[0].seq, 1)
        self.assertTrue(slots[0].clean, "padding after the payload is not zero")
        self.assertEqual(img[4096:], b"\0" * 4096)
        rec, state = tl.decode_user(img)
        # Pending: the record alone, no state yet.
        self.assertTrue(rec.startswith("# pam_mailotp user record") and rec.endswith("\nend\n"),
                        rec)
        self.assertIn("\nstatus = pending\n", rec)
        self.assertIn("\nsecret = %s\n" % secret, rec)
        self.assertEqual(state, "")
        # Confirming writes in place: the slots alternate, the file stays.
        now = int(time.time())
        self.w.cli("confirm", "bob", tl.oathtool_code(secret, now), check=0)
        img = self.image(path)
        self.assertEqual(os.stat(path).st_ino, st.st_ino, "replaced, not rewritten")
        idx, cur = tl.current_slot(img)
        other = tl.state_slots(img)[1 - idx]
        self.assertGreaterEqual(cur.seq, 2)
        self.assertEqual(idx, (cur.seq - 1) % 2, "a write did not take the older slot")
        self.assertEqual(other.seq, cur.seq - 1)
        self.assertTrue(cur.clean and other.clean)
        rec, state = tl.decode_user(img)
        self.assertIn("\nstatus = enabled\n", rec)
        self.assertTrue(tl.state_complete(state), state)
        self.assertEqual(int(tl.state_fields(state)["last_step"]), now // 30)

    def test_every_write_takes_the_older_slot_in_place(self):
        ino = os.stat(self.user_path).st_ino
        names = sorted(os.listdir(os.path.dirname(self.user_path)))
        img = self.image()
        rec = tl.decode_user(img)[0]
        answers = [PW + self.w.code("alice", self.step + 1)] + [self.wrong()] * 3
        for n, answer in enumerate(answers):
            cur, slot = tl.current_slot(img)
            self.w.login(self.svc, "alice", answer)
            new = self.image()
            ncur, nslot = tl.current_slot(new)
            self.assertEqual((ncur, nslot.seq), (1 - cur, slot.seq + 1), "write %d" % n)
            self.assertTrue(nslot.clean)
            # the login's last-logins entry went with the same slot write; or, when the
            # batch it would have joined (last_logins = 3) was just moved to last/alice
            # with entries of its own second, after them in last/alice (the order mark)
            if nslot.ext is None:
                self.assertEqual(n, 3, "write %d kept no entry" % n)
                with open(os.path.join(self.w.store, "last", "alice")) as f:
                    newest = f.read().splitlines()[-1]
            else:
                newest = nslot.ext.decode("ascii").splitlines()[-1]
            self.assertRegex(newest, r"^login = \d+ %s code " % ("success" if n == 0 else "failure"))
            self.assertTrue(newest.endswith("code-accepted" if n == 0 else "wrong-code"), newest)
            span = slice(cur * 4096, cur * 4096 + 4096)
            self.assertEqual(new[span], img[span], "write %d touched the current slot" % n)
            self.assertEqual(os.stat(self.user_path).st_ino, ino, "replaced, not rewritten")
            self.assertEqual(sorted(os.listdir(os.path.dirname(self.user_path))), names)
            self.assertEqual(tl.decode_user(new)[0], rec, "write %d changed the record" % n)
            img = new
        fields = tl.state_fields(tl.decode_user(img)[1])
        self.assertEqual((int(fields["last_step"]), fields["failures"]), (self.step + 1, "3"))
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "records")))
        self.assertFalse(os.path.exists(os.path.join(self.w.store, "state")))

    def test_state_of_0_1_0_is_read_and_replaced_by_a_user_file(self):
        rec, text = tl.read_user(self.w.store, "alice")
        # A 0.1.0 state (text) in the 0.2.0 layout, that has used the next step already:
        # its code is a replay.
        used = text.replace("last_step = %d" % self.step, "last_step = %d" % (self.step + 1))
        self.assertNotEqual(used, text)
        tl.make_legacy(self.w.store, "alice")
        state_path = os.path.join(self.w.store, "state", "alice")
        with open(state_path, "w") as f:
            f.write(used)
        code = PW + self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", code), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        self.assertEqual(self.w.login(self.svc, "alice", self.wrong()), "PAM_AUTH_ERR")
        self.assertTrue(os.path.exists(self.user_path),
                        "the counted failure did not move the user into users/")
        img = self.image()
        self.assertEqual(len(img), 8192)
        slots = tl.state_slots(img)
        self.assertEqual((slots[0].seq, slots[1]), (1, None))
        nrec, nstate = tl.decode_user(img)
        self.assertEqual(nrec, rec)
        fields = tl.state_fields(nstate)
        self.assertEqual((int(fields["last_step"]), fields["failures"]), (self.step + 1, "1"))
        self.assertEqual(self.image(os.path.join(self.w.store, "records", "alice")),
                         tl.MOVED_RECORD)
        self.assertFalse(os.path.exists(state_path))
        for sub in ("users", "records", "state"):
            self.assertFalse([n for n in os.listdir(os.path.join(self.w.store, sub))
                              if n.startswith(".")], "temporary file left in %s/" % sub)

    def read_log(self):
        with open(self.last_path, "rb") as f:
            return f.read()

    def test_entries_listed_in_the_order_they_happened(self):
        """A code accepted (its entry kept with the state), the same code again (a replay,
        written straight to the log), then a wrong code (kept with the state again):
        mailotp last lists them newest first in that order, whether or not they fall in
        one second (the order mark: the lock file's size)."""
        code = self.w.code("alice", self.step + 1)
        for rhost, answer in (("192.0.2.11", PW + code), ("192.0.2.12", PW + code),
                              ("192.0.2.13", self.wrong())):
            self.w.login(self.svc, "alice", answer, rhost=rhost)
        got = [l["rhost"] for l in jcli_last(self.w)][:3]
        self.assertEqual(got, ["192.0.2.13", "192.0.2.12", "192.0.2.11"])
        self.assertLessEqual(os.stat(os.path.join(self.w.store, "locks", "alice")).st_size,
                             4093)

    def test_log_appended_then_cut_to_keep_after_keep_plus_64_lines(self):
        at = 3 + 64  # lastlog_rewrite_at(3): keep + max(keep, 64)
        sizes = []
        for n in range(1, at + 2):
            self.w.login(self.svc, "alice", PW, rhost="203.0.113.%d" % n)  # no-code, noted
            data = self.read_log()
            log = tl.decode_lastlog(data)
            self.assertEqual((log.version, log.keep, log.skipped), (2, 3, 0), n)
            self.assertTrue(data.startswith(b"# pam_mailotp last logins\nversion = 2\n"
                                            b"keep = 3\n"), data)
            self.assertNotIn(b"\nend\n", data)
            sizes.append((len(log.lines), os.stat(self.last_path).st_ino))
            self.assertEqual(log.entries[-1].split()[6], "203.0.113.%d" % n)
            if n <= 4 or n >= at - 1:
                got = [l["rhost"] for l in jcli_last(self.w)]
                self.assertEqual(got, ["203.0.113.%d" % k for k in range(n, max(0, n - 3), -1)])
        # 1..67 lines appended (same inode), the 68th login finds 67: rewritten to 3.
        self.assertEqual([n for n, _ in sizes], list(range(1, at + 1)) + [3])
        self.assertEqual(len({ino for _, ino in sizes[:at]}), 1, "appends replaced the file")
        self.assertNotEqual(sizes[at][1], sizes[at - 1][1])

    def test_log_of_0_1_0_read_and_rewritten(self):
        os.makedirs(os.path.dirname(self.last_path), exist_ok=True)
        with open(self.last_path, "w") as f:
            f.write("# pam_mailotp last logins\nversion = 1\n"
                    "login = 1700000000 success code imap 192.0.2.1 code-accepted\n"
                    "login = 1700000100 failure code imap 192.0.2.2 wrong-code\nend\n")
        os.chmod(self.last_path, 0o600)
        self.assertEqual([l["rhost"] for l in jcli_last(self.w)], ["192.0.2.2", "192.0.2.1"])
        self.w.login(self.svc, "alice", PW, rhost="192.0.2.3")
        log = tl.decode_lastlog(self.read_log())
        self.assertEqual((log.version, log.keep), (2, 3))
        self.assertEqual([l.split()[6] for l in log.entries],
                         ["192.0.2.1", "192.0.2.2", "192.0.2.3"])


def jcli_last(w):
    return json.loads(w.cli("--json", "last", "alice", check=0).stdout)["logins"]


if __name__ == "__main__":
    unittest.main()
