# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared fixtures for the PAM-level and CLI tests.

Every test gets its own temporary world: a store directory, a configuration
file, a PAM confdir whose service files load the module under test, and a
password file for the stand-in password module (pam_expect_authtok).  Expected
codes always come from oathtool, never from the code under test.
"""
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

MODULE = os.environ.get("MAILOTP_MODULE")
EXPECT = os.environ.get("MAILOTP_EXPECT_MODULE")
PAMAUTH = os.environ.get("MAILOTP_PAMAUTH")
CLI = os.environ.get("MAILOTP_CLI")

PERIOD = 30
# e.g. "valgrind --error-exitcode=99 ...": every pamauth and mailotp run goes through it.
WRAPPER = shlex.split(os.environ.get("MAILOTP_WRAPPER", ""))
WRAPPER_FAILED = 99



def oathtool_code(secret, when, digits=6):
    """The TOTP code for `secret` at unix time `when`, from oathtool."""
    out = subprocess.run(
        ["oathtool", "--totp", "-b", "-d", str(digits), "-N", "@%d" % when, secret],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def check_wrapper(cmd, res):
    """A memory checker's failure (valgrind --error-exitcode=99, ASAN_OPTIONS=exitcode=99)
    fails the test whatever PAM said; neither pamauth nor mailotp ever exits 99."""
    if res.returncode == WRAPPER_FAILED:
        raise AssertionError("%s: memory checker reported errors:\n%s" % (cmd[0], res.stderr[-6000:]))


class World:
    """One isolated store + configuration + PAM confdir."""

    def __init__(self, conf_text="", module_args=""):
        self.root = tempfile.mkdtemp(prefix="mailotp-test-")
        os.chmod(self.root, 0o700)
        self.store = os.path.join(self.root, "store")
        self.conf = os.path.join(self.root, "mailotp.conf")
        self.confdir = os.path.join(self.root, "pam.d")
        self.syslog = os.path.join(self.root, "syslog")
        self.expect_log = os.path.join(self.root, "expect.log")
        self.pwdir = os.path.join(self.root, "passwords")
        os.mkdir(self.confdir)
        os.mkdir(self.pwdir)
        # As the package does: the store exists (root-owned, 0700) before anyone enrolls.
        os.mkdir(self.store, 0o700)
        with open(os.path.join(self.confdir, "other"), "w") as f:
            f.write("auth required pam_deny.so\n")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        os.chmod(self.conf, 0o600)
        self.module_args = module_args
        self.secrets = {}

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    # -- configuration -------------------------------------------------
    def common_args(self, extra=""):
        return ("dir=%s conf=%s %s %s" % (self.store, self.conf, self.module_args, extra)).strip()

    def set_password(self, user, password):
        with open(os.path.join(self.pwdir, user), "w") as f:
            f.write(password + "\n")

    def expect_line(self, user, control="required", prompt=False):
        return "auth %s %s file=%s log=%s%s\n" % (
            control, EXPECT, os.path.join(self.pwdir, user), self.expect_log,
            " prompt" if prompt else "")

    def service(self, name, text):
        with open(os.path.join(self.confdir, name), "w") as f:
            f.write(text)
        return name

    def simple_service(self, user, extra="", name=None):
        return self.service(name or "simple-" + user,
                            "auth [success=done ignore=ignore default=die] %s %s\n" % (
                                MODULE, self.common_args(extra)) + self.expect_line(user))

    def hardened_service(self, user, extra="", name=None):
        return self.service(name or "hardened-" + user,
                            "auth [success=done ignore=ignore default=die] %s split %s\n" % (
                                MODULE, self.common_args(extra))
                            + self.expect_line(user, "requisite")
                            + "auth required %s verify %s\n" % (MODULE, self.common_args(extra)))

    # -- CLI -------------------------------------------------------------
    def cli(self, *args, check=None):
        cmd = WRAPPER + [CLI, "--dir", self.store, "--conf", self.conf] + list(args)
        res = subprocess.run(cmd, capture_output=True, text=True)
        check_wrapper(cmd, res)
        if check is not None and res.returncode != check:
            raise AssertionError("%s -> %d (want %d)\nstdout:%s\nstderr:%s" % (
                cmd, res.returncode, check, res.stdout, res.stderr))
        return res

    def enroll(self, user):
        res = self.cli("enroll", "--no-qr", user, check=0)
        m = re.search(r"^otpauth://totp/\S*[?&]secret=([A-Z2-7]+)", res.stdout, re.M)
        assert m, res.stdout
        self.secrets[user] = m.group(1)
        return m.group(1)

    def enable(self, user, password=None):
        """Enroll + confirm.  Returns the step the confirmation used."""
        secret = self.enroll(user)
        now = int(time.time())
        self.cli("confirm", user, oathtool_code(secret, now), check=0)
        if password is not None:
            self.set_password(user, password)
        return now // PERIOD

    def code(self, user, step):
        return oathtool_code(self.secrets[user], step * PERIOD)

    # -- logins ----------------------------------------------------------
    def login(self, service, user, answer, rhost="192.0.2.7", mode="dovecot", extra_answers=(),
              env_extra=None):
        cmd = WRAPPER + [PAMAUTH, "--confdir", self.confdir, "--mode", mode]
        if rhost is not None:
            cmd += ["--rhost", rhost]
        cmd += [service, user]
        env = dict(os.environ, PAMAUTH_SYSLOG=self.syslog, **(env_extra or {}))
        stdin = "\n".join([answer] + list(extra_answers)) + "\n"
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env,
                             timeout=120)
        check_wrapper(cmd, res)
        out = res.stdout.split()
        self.last_stderr = res.stderr
        return out[0] if out else "no-result(rc=%d): %s" % (res.returncode, res.stderr)

    def login_maps_libcrypto(self, service, user, answer, **kw):
        """One login with pamauth reporting /proc/self/maps afterwards:
        (PAM result, True when libcrypto was mapped into the process)."""
        result = self.login(service, user, answer, env_extra={"PAMAUTH_REPORT_MAPS": "1"}, **kw)
        m = re.search(r"^pamauth: libcrypto-mapped=(yes|no)$", self.last_stderr, re.M)
        if not m:
            raise AssertionError("pamauth did not report its mappings:\n%s" % self.last_stderr)
        return result, m.group(1) == "yes"

    def log_lines(self):
        try:
            with open(self.syslog) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def last_log(self):
        lines = self.log_lines()
        return lines[-1] if lines else ""

    def expect_calls(self):
        try:
            with open(self.expect_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def status(self, user):
        res = self.cli("status", user, check=0)
        return dict(line.split(": ", 1) for line in res.stdout.splitlines() if ": " in line)


class WorldTest(unittest.TestCase):
    conf_text = ""
    module_args = ""

    @classmethod
    def setUpClass(cls):
        missing = [n for n, v in (("MAILOTP_MODULE", MODULE), ("MAILOTP_EXPECT_MODULE", EXPECT),
                                  ("MAILOTP_PAMAUTH", PAMAUTH), ("MAILOTP_CLI", CLI)) if not v]
        if missing:
            raise unittest.SkipTest("run through ctest: %s not set" % ", ".join(missing))
        if shutil.which("oathtool") is None:
            raise AssertionError("oathtool is required (apt-get install oathtool)")

    def setUp(self):
        self.w = World(self.conf_text, self.module_args)
        self.addCleanup(self.w.cleanup)

    def assertLogged(self, pattern):
        lines = self.w.log_lines()
        self.assertTrue(any(re.search(pattern, l) for l in lines),
                        "no log line matches %r in:\n%s" % (pattern, "\n".join(lines)))
