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


class FailClosed(WorldTest):
    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.svc = self.w.simple_service("alice")
        self.record = os.path.join(self.w.store, "records", "alice")

    def login_ok_code(self):
        return self.w.login(self.svc, "alice", PW + self.w.code("alice", self.step + 1))

    def test_corrupt_record(self):
        with open(self.record, "w") as f:
            f.write("version = 1\nstatus = enab")
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("result=error reason=corrupt-data")

    def test_world_readable_record(self):
        os.chmod(self.record, 0o644)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=unsafe-file")

    def test_symlinked_record(self):
        target = os.path.join(self.w.root, "elsewhere")
        os.rename(self.record, target)
        os.symlink(target, self.record)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=unsafe-file")

    def test_record_is_a_directory(self):
        os.unlink(self.record)
        os.mkdir(self.record, 0o700)
        self.assertEqual(self.w.login(self.svc, "alice", PW), "PAM_AUTHINFO_UNAVAIL")

    def test_hard_linked_record(self):
        os.link(self.record, os.path.join(self.w.root, "second-name"))
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
        os.unlink(os.path.join(self.w.store, "state", "alice"))
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")
        self.assertLogged("reason=wrong-state")
        self.w.cli("unlock", "alice", check=0)
        # unlock rebuilt the state at the current step: the next step's code works.
        now_step = int(time.time()) // 30
        self.assertEqual(self.w.login(self.svc, "alice", PW + self.w.code("alice", now_step + 1)),
                         "PAM_SUCCESS")

    def test_corrupt_state(self):
        with open(os.path.join(self.w.store, "state", "alice"), "w") as f:
            f.write("garbage\n")
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")

    def test_unwritable_state_fails_the_login(self):
        # A directory in place of the state's temp area cannot be made durable: simulate by
        # making state/ read-only for root is impossible, so replace state/ by a file.
        state_dir = os.path.join(self.w.store, "state")
        os.rename(state_dir, state_dir + ".moved")
        with open(state_dir, "w") as f:
            f.write("not a directory\n")
        os.chmod(state_dir, 0o600)
        self.assertEqual(self.login_ok_code(), "PAM_AUTHINFO_UNAVAIL")

    def test_stale_temp_file_does_not_block(self):
        stale = os.path.join(self.w.store, "state", ".alice.0123456789ab")
        with open(stale, "w") as f:
            f.write("half a state")
        os.chmod(stale, 0o600)
        self.assertEqual(self.login_ok_code(), "PAM_SUCCESS")

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
    def test_same_code_from_many_processes_exactly_one_success(self):
        step = self.w.enable("alice", PW)
        svc = self.w.simple_service("alice")
        answer = PW + self.w.code("alice", step + 1) + "\n"
        env = dict(os.environ, PAMAUTH_SYSLOG=self.w.syslog)
        procs = [subprocess.Popen(WRAPPER + [PAMAUTH, "--confdir", self.w.confdir, svc, "alice"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=env)
                 for _ in range(12)]
        for p in procs:
            p.stdin.write(answer)
            p.stdin.close()
        results = [p.stdout.read().split()[0] for p in procs]
        for p in procs:
            p.wait(timeout=120)
            self.assertNotEqual(p.returncode, 99, "memory checker reported errors")
        self.assertEqual(results.count("PAM_SUCCESS"), 1, results)
        self.assertEqual(results.count("PAM_AUTH_ERR"), 11, results)
        self.assertEqual(sum("reason=replayed-code" in l for l in self.w.log_lines()), 11)


class StoreFormats(WorldTest):
    """The on-disk formats, read with the independent decoders of mailotp_testlib: the
    state is a two-slot file rewritten in place (the older slot, the next sequence number,
    the other slot untouched, the same inode, no temporary file); the last-logins log is
    appended to and rewritten with the newest `keep` entries every `keep` logins; the
    formats of 0.1.0 are still read and replaced at the next write."""
    conf_text = "last_logins = 3\n"

    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", PW)
        self.svc = self.w.simple_service("alice")
        self.state_path = os.path.join(self.w.store, "state", "alice")
        self.last_path = os.path.join(self.w.store, "last", "alice")

    def image(self):
        with open(self.state_path, "rb") as f:
            return f.read()

    def wrong(self):
        good = self.w.code("alice", self.step + 1)
        return PW + "%06d" % ((int(good) + 1) % 1000000)

    def test_new_state_is_slot_zero_sequence_one(self):
        img = self.image()
        st = os.stat(self.state_path)
        self.assertEqual((len(img), st.st_mode & 0o777, st.st_nlink), (8192, 0o600, 1))
        slots = tl.state_slots(img)
        self.assertEqual(slots[0].seq, 1)
        self.assertTrue(slots[0].clean, "padding after the payload is not zero")
        self.assertEqual(img[4096:], b"\0" * 4096)
        text = tl.decode_state(img)
        self.assertTrue(tl.state_complete(text), text)
        self.assertEqual(int(tl.state_fields(text)["last_step"]), self.step)

    def test_every_write_takes_the_older_slot_in_place(self):
        ino = os.stat(self.state_path).st_ino
        names = sorted(os.listdir(os.path.dirname(self.state_path)))
        img = self.image()
        answers = [PW + self.w.code("alice", self.step + 1)] + [self.wrong()] * 3
        for n, answer in enumerate(answers):
            cur, slot = tl.current_slot(img)
            self.w.login(self.svc, "alice", answer)
            new = self.image()
            ncur, nslot = tl.current_slot(new)
            self.assertEqual((ncur, nslot.seq), (1 - cur, slot.seq + 1), "write %d" % n)
            self.assertTrue(nslot.clean)
            span = slice(cur * 4096, cur * 4096 + 4096)
            self.assertEqual(new[span], img[span], "write %d touched the current slot" % n)
            self.assertEqual(os.stat(self.state_path).st_ino, ino, "replaced, not rewritten")
            self.assertEqual(sorted(os.listdir(os.path.dirname(self.state_path))), names)
            img = new
        fields = tl.state_fields(tl.decode_state(img))
        self.assertEqual((int(fields["last_step"]), fields["failures"]), (self.step + 1, "3"))

    def test_state_of_0_1_0_is_read_and_replaced_by_a_slot_file(self):
        text = tl.decode_state(self.image())
        # A 0.1.0 state that has used the next step already: its code is a replay.
        used = text.replace("last_step = %d" % self.step, "last_step = %d" % (self.step + 1))
        self.assertNotEqual(used, text)
        with open(self.state_path, "w") as f:
            f.write(used)
        ino = os.stat(self.state_path).st_ino
        code = PW + self.w.code("alice", self.step + 1)
        self.assertEqual(self.w.login(self.svc, "alice", code), "PAM_AUTH_ERR")
        self.assertLogged("reason=replayed-code")
        self.assertEqual(self.w.login(self.svc, "alice", self.wrong()), "PAM_AUTH_ERR")
        img = self.image()
        self.assertEqual(len(img), 8192, "the counted failure did not convert the file")
        self.assertNotEqual(os.stat(self.state_path).st_ino, ino)
        slots = tl.state_slots(img)
        self.assertEqual((slots[0].seq, slots[1]), (1, None))
        fields = tl.state_fields(tl.decode_state(img))
        self.assertEqual((int(fields["last_step"]), fields["failures"]), (self.step + 1, "1"))
        self.assertFalse([n for n in os.listdir(os.path.dirname(self.state_path))
                          if n.startswith(".")], "temporary file left")

    def read_log(self):
        with open(self.last_path, "rb") as f:
            return f.read()

    def test_log_appended_and_cut_to_keep_every_keep_logins(self):
        sizes = []
        for n in range(1, 8):
            self.w.login(self.svc, "alice", PW, rhost="203.0.113.%d" % n)  # no-code, noted
            data = self.read_log()
            log = tl.decode_lastlog(data)
            self.assertEqual((log.version, log.keep, log.skipped), (2, 3, 0), n)
            self.assertTrue(data.startswith(b"# pam_mailotp last logins\nversion = 2\n"
                                            b"keep = 3\n"), data)
            self.assertNotIn(b"\nend\n", data)
            sizes.append((len(log.lines), os.stat(self.last_path).st_ino))
            self.assertEqual(log.entries[-1].split()[6], "203.0.113.%d" % n)
            got = [l["rhost"] for l in jcli_last(self.w)]
            self.assertEqual(got, ["203.0.113.%d" % k for k in range(n, max(0, n - 3), -1)])
        # 1..6 lines appended (same inode), the 7th login finds 2 * keep: rewritten to 3.
        self.assertEqual([n for n, _ in sizes], [1, 2, 3, 4, 5, 6, 3])
        self.assertEqual(len({ino for _, ino in sizes[:6]}), 1, "appends replaced the file")
        self.assertNotEqual(sizes[6][1], sizes[5][1])

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
