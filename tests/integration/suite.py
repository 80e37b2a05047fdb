#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Integration suite: pam_mailotp behind a real Dovecot, a real Postfix and pamtester.

Everything runs in a private mount namespace whose /etc/pam.d is a copy of the
system's with the suite's imap, smtp and mailpanel services bound over it, so
the real /etc/pam.d is never touched.  The PAM services, the Dovecot snippet,
the Postfix snippets and the panel's pamtester call are rendered from
examples/, so the shipped documentation is what gets tested.

The suite creates throwaway system users (pam_unix checks their passwords
against /etc/shadow), a private Dovecot and a private Postfix on 127.0.0.1 high
ports, and removes all of it at the end, also when a case fails or the run is
interrupted.  Expected TOTP codes come from oathtool, never from the code under
test.

Inputs: MAILOTP_MODULE (pam_mailotp.so) and MAILOTP_CLI (mailotp), or
--build DIR holding both.  Output: one "PASS name" / "FAIL name: why" line per
case, then "N passed, N failed".  Exit status 0 only when nothing failed.
"""
import argparse
import calendar
import imaplib
import json
import os
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(REPO, "examples")
TEMPLATES = os.path.join(HERE, "templates")

PERIOD = 30
SAFE_LEFT = 4  # a code for the current step needs at least this many seconds left
IN_NS_ENV = "MAILOTP_IT_NAMESPACE"

# Test-only module options added to every rendered pam_mailotp line: a short
# back-off so the lockout case fits the time budget.
LOCKOUT_AFTER = 3
LOCKOUT_DELAY = 4
TEST_MODULE_OPTS = "lockout_after=%d lockout_delay=%d lockout_max=%d" % (
    LOCKOUT_AFTER, LOCKOUT_DELAY, LOCKOUT_DELAY)
PANEL_RHOST = "198.51.100.23"  # TEST-NET-2: the "browser" behind the User Panel


class Failure(Exception):
    """A case's expectation did not hold."""


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def run(cmd, check=True, **kw):
    """subprocess.run with text output; a failed check raises Failure with the output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    res = subprocess.run(cmd, **kw)
    if check and res.returncode != 0:
        raise Failure("%s exited %d: %s" % (" ".join(cmd), res.returncode,
                                            (res.stderr or res.stdout or "").strip()[-800:]))
    return res


def sleep_until(t):
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


# ---------------------------------------------------------------------------
# Rendering the shipped examples into test configuration
# ---------------------------------------------------------------------------

PAM_LINE = re.compile(r"^(\s*)(auth|account|password|session)(\s+)(\[[^\]]*\]|\S+)(\s+)(\S+)(.*)$")


def render_pam(text, module, module_opts):
    """An examples/pam.d file with the module's path and test options filled in.

    pam_mailotp.so -> the built module plus module_opts (store, configuration,
    short lockout, ...); pam_unix.so auth lines get nodelay (test only: no 2 s
    delay after a wrong password).  Anything else is kept as it is.
    """
    out, seen = [], set()
    for line in text.splitlines():
        m = PAM_LINE.match(line)
        if m is None:
            if line.strip() and not line.lstrip().startswith("#"):
                raise Failure("examples: unparsable PAM line %r" % line)
            out.append(line)
            continue
        ind, ptype, sp1, control, sp2, mod, args = m.groups()
        if mod == "pam_mailotp.so":
            mod = module
            args = args.rstrip() + " " + module_opts
            seen.add("pam_mailotp")
        elif mod == "pam_unix.so" and ptype == "auth":
            args = args.rstrip() + " nodelay"
            seen.add("pam_unix")
        out.append(ind + ptype + sp1 + control + sp2 + mod + args)
    expect(seen == {"pam_mailotp", "pam_unix"},
           "examples: PAM file lacks pam_mailotp.so or pam_unix.so auth lines")
    return "\n".join(out) + "\n"


def fill(template, values):
    """Replace @NAME@ placeholders; every placeholder must be known."""
    def sub(m):
        if m.group(1) not in values:
            raise Failure("template: unknown placeholder @%s@" % m.group(1))
        return str(values[m.group(1)])
    return re.sub(r"@([A-Z_]+)@", sub, template)


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def render_dovecot_auth(text, queue_dir):
    """examples/dovecot/auth-mailotp.conf.ext with Postfix's queue directory filled in."""
    live = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    expect(not any("cache_key" in l for l in live),
           "examples: the Dovecot snippet sets cache_key (replayed codes from the cache)")
    expect(any(re.match(r"\s*args\s*=\s*%s\s*$", l) for l in live),
           "examples: the Dovecot snippet's passdb lacks 'args = %s'")
    expect("/var/spool/postfix/private/auth" in text,
           "examples: the Dovecot snippet lacks the Postfix auth listener")
    return text.replace("/var/spool/postfix/", queue_dir.rstrip("/") + "/")


def render_submission(text, port):
    """examples/postfix/master.cf on 127.0.0.1:port, without TLS (test only)."""
    out = []
    for line in text.splitlines():
        if line.startswith("submission "):
            line = "127.0.0.1:%d%s" % (port, line[len("submission"):])
        line = line.replace("smtpd_tls_security_level=encrypt", "smtpd_tls_security_level=none")
        line = line.replace("smtpd_tls_auth_only=yes", "smtpd_tls_auth_only=no")
        out.append(line)
    expect(any(l.startswith("127.0.0.1:") for l in out),
           "examples: postfix/master.cf has no submission service")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Processes and ports
# ---------------------------------------------------------------------------

def session_pids(sid):
    """PIDs of the processes in session `sid` (our daemons and their children)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = read("/proc/%s/stat" % d)
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # state ppid pgrp session; not reaped yet
            pids.append(int(d))
    return pids


def signal_pids(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(sid, pids, timeout):
    deadline = time.time() + timeout
    while True:
        left = [p for p in session_pids(sid) if p in pids]
        if not left or time.time() > deadline:
            return left
        time.sleep(0.05)


def stop_session(sid, what):
    """Stop a daemon we started (the leader of session `sid`) and everything it forked.

    Only processes of that session are ever signalled: the leader first, then
    whatever it left behind, SIGKILL as the last resort.
    """
    signal_pids([sid], signal.SIGTERM)
    wait_gone(sid, [sid], 10)
    for sig, timeout in ((signal.SIGTERM, 5), (signal.SIGKILL, 2)):
        left = session_pids(sid)
        if not left:
            return
        signal_pids(left, sig)
        wait_gone(sid, left, timeout)
    left = session_pids(sid)
    if left:
        raise Failure("%s: processes still running: %s" % (what, left))


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(n):
    rng = secrets.SystemRandom()
    ports = []
    while len(ports) < n:
        p = rng.randrange(20000, 40000)
        if p not in ports and port_free(p):
            ports.append(p)
    return ports


def wait_banner(port, prefix, timeout=20):
    """Wait until 127.0.0.1:port answers with a greeting starting with prefix."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.settimeout(5)
                data = s.recv(512).decode(errors="replace")
                if data.startswith(prefix):
                    return
                last = data
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise Failure("no %r greeting on 127.0.0.1:%d (%s)" % (prefix, port, last))


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

class IMAP(imaplib.IMAP4):
    """imaplib from a chosen loopback source address."""

    def __init__(self, port, source=None):
        self._source = source
        super().__init__("127.0.0.1", port, timeout=20)

    def _create_socket(self, timeout):
        src = (self._source, 0) if self._source else None
        return socket.create_connection((self.host, self.port), timeout, source_address=src)


class Refused(Exception):
    pass


def imap_auth(conn, user, secret, mech):
    """LOGIN or AUTHENTICATE PLAIN on an open connection: True, or Refused on a clean NO."""
    try:
        if mech == "LOGIN":
            conn.login(user, secret)
        else:
            blob = b"\0" + user.encode() + b"\0" + secret.encode()
            conn.authenticate("PLAIN", lambda _challenge: blob)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as e:
        # Only Dovecot's plain refusal counts as "refused"; a temporary failure
        # (store error, crashed auth worker) is a failed case, never a pass.
        if "[AUTHENTICATIONFAILED]" in str(e):
            raise Refused(str(e))
        raise Failure("IMAP %s: unexpected answer %s" % (mech, e))
    return True


# ---------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------

class User:
    def __init__(self, name, password):
        self.name = name
        self.password = password
        self.secret = None
        self.last_step = -1  # newest time step handed out (the module refuses it again)


class Suite:
    def __init__(self, module, cli, times):
        self.module = module
        self.cli_path = cli
        self.times = times
        self.results = []  # (name, ok, why, seconds)
        self.accounts = []  # (name, password) of the system users we created
        self.next_account = 0
        self.cleanups = []  # callables, run in reverse
        self.stack = None
        self.dovecot = None
        self.tag = secrets.token_hex(3)

    # -- bookkeeping ---------------------------------------------------------
    def report(self, name, ok, why="", secs=0.0):
        self.results.append((name, ok, why, secs))
        line = ("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why))
        if self.times:
            line += "  [%.1f s]" % secs
        print(line, flush=True)

    def case(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
        except (Failure, Refused, AssertionError) as e:
            self.report(name, False, str(e).replace("\n", " | "), time.time() - t0)
        except Exception as e:  # a crash of the case is a failure of the case
            self.report(name, False, "%s: %s" % (type(e).__name__, e), time.time() - t0)
        else:
            self.report(name, True, "", time.time() - t0)

    # -- set-up ----------------------------------------------------------------
    def setup(self):
        for tool in ("dovecot", "doveadm", "postfix", "pamtester", "oathtool", "useradd",
                     "userdel", "chpasswd", "mount", "umount"):
            expect(shutil.which(tool), "%s not found (tests/integration/run installs it)" % tool)
        for path in (self.module, self.cli_path):
            expect(os.path.isabs(path) and os.path.exists(path), "not found: %s" % path)

        self.work = tempfile.mkdtemp(prefix="mailotp-it.")
        self.cleanups.append(lambda: shutil.rmtree(self.work, ignore_errors=True))
        # Dovecot's login and mail processes (dovenull, the mail uid) and Postfix
        # must traverse it; the store inside stays 0700 root.
        os.chmod(self.work, 0o755)
        self.conf = os.path.join(self.work, "mailotp.conf")
        write(self.conf, "issuer = mailotp integration suite\n", 0o600)
        self.homes = os.path.join(self.work, "home")
        os.mkdir(self.homes, 0o755)

        # A private /etc/pam.d: the system's files plus ours, only in this namespace.
        self.pamd = os.path.join(self.work, "pam.d")
        shutil.copytree("/etc/pam.d", self.pamd, symlinks=True)
        run(["mount", "--bind", self.pamd, "/etc/pam.d"])
        self.cleanups.append(lambda: run(["umount", "/etc/pam.d"], check=False))
        self.begin_phase("simple")

        self.imap_port, self.smtp_port = pick_ports(2)
        self.setup_postfix_config()
        # Postfix first: its start-up check creates the queue's private/ directory,
        # where Dovecot puts the SASL listener.
        self.start_postfix()
        self.start_dovecot()
        # Not before: smtpd asks Dovecot for its SASL mechanisms on every connection.
        wait_banner(self.smtp_port, "220 ")

    def begin_phase(self, stack):
        """Start testing a stack with a fresh, empty store (root, 0700).  The system
        users are used again: to the module they are new mailboxes."""
        self.store = os.path.join(self.work, "store-" + stack)
        os.mkdir(self.store, 0o700)
        self.next_account = 0
        self.use_stack(stack)

    def use_stack(self, stack, extra=""):
        """Write the imap, smtp and mailpanel services of examples/pam.d/STACK."""
        opts = "dir=%s conf=%s %s %s" % (self.store, self.conf, TEST_MODULE_OPTS, extra)
        for svc in ("imap", "smtp", "mailpanel"):
            text = read(os.path.join(EXAMPLES, "pam.d", stack, svc))
            write(os.path.join(self.pamd, svc), render_pam(text, self.module, opts.strip()))
        # "and likewise /etc/pam.d/pop3": a protocol an app password is not scoped to.
        shutil.copy(os.path.join(self.pamd, "imap"), os.path.join(self.pamd, "pop3"))
        self.stack = stack

    def setup_postfix_config(self):
        pf = os.path.join(self.work, "postfix")
        self.pf_conf = os.path.join(pf, "conf")
        self.pf_queue = os.path.join(pf, "queue")
        self.pf_log = os.path.join(pf, "postfix.log")
        for d in (pf, self.pf_conf, self.pf_queue, os.path.join(pf, "data")):
            os.makedirs(d, 0o755, exist_ok=True)
        shutil.chown(os.path.join(pf, "data"), "postfix")
        main = fill(read(os.path.join(TEMPLATES, "postfix-main.cf.in")), {
            "QUEUE_DIR": self.pf_queue, "DATA_DIR": os.path.join(pf, "data"), "LOG": self.pf_log,
            "LOG_DIR": pf})
        main += read(os.path.join(EXAMPLES, "postfix", "main.cf"))
        write(os.path.join(self.pf_conf, "main.cf"), main)
        sub = render_submission(read(os.path.join(EXAMPLES, "postfix", "master.cf")),
                                self.smtp_port)
        write(os.path.join(self.pf_conf, "master.cf"),
              fill(read(os.path.join(TEMPLATES, "postfix-master.cf.in")), {"SUBMISSION": sub}))

    def postfix_cmd(self, verb):
        """postfix -c CONF VERB.  Postfix writes errors to stderr only on a terminal:
        a failure quotes the end of its log file instead."""
        res = run(["postfix", "-c", self.pf_conf, verb], check=False)
        if res.returncode != 0:
            tail = read(self.pf_log).splitlines()[-5:] if os.path.exists(self.pf_log) else []
            raise Failure("postfix %s exited %d: %s" % (
                verb, res.returncode, " | ".join(tail) or res.stderr.strip() or
                "no message (postfix only prints to a terminal)"))

    def start_dovecot(self):
        dv = os.path.join(self.work, "dovecot")
        os.mkdir(dv, 0o755)
        self.dv_log = os.path.join(dv, "dovecot.log")
        auth_conf = os.path.join(dv, "auth-mailotp.conf.ext")
        write(auth_conf, render_dovecot_auth(
            read(os.path.join(EXAMPLES, "dovecot", "auth-mailotp.conf.ext")), self.pf_queue))
        self.dv_conf = os.path.join(dv, "dovecot.conf")
        write(self.dv_conf, fill(read(os.path.join(TEMPLATES, "dovecot.conf.in")), {
            "INSTANCE": "mailotp-it-" + self.tag,
            "BASE_DIR": os.path.join(dv, "run"),  # does not exist yet: Dovecot makes it
            "STATE_DIR": os.path.join(dv, "state"),
            "LOG": self.dv_log,
            "IMAP_PORT": self.imap_port,
            "AUTH_CONF": auth_conf,
        }))
        run(["dovecot", "-c", self.dv_conf, "-n"])  # config errors, with their message
        out = open(os.path.join(dv, "stdout.log"), "w")
        # -F: stays our child, in its own session so it and all its children can be
        # found and stopped by PID.
        self.dovecot = subprocess.Popen(["dovecot", "-F", "-c", self.dv_conf], stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_banner(self.imap_port, "* OK")

    def stop_dovecot(self):
        if self.dovecot is not None:
            stop_session(self.dovecot.pid, "dovecot")
            self.dovecot.wait(timeout=10)
            self.dovecot = None

    def postfix_master_pid(self):
        """The PID of our Postfix master (from its pid file), or None."""
        try:
            pid = int(read(os.path.join(self.pf_queue, "pid", "master.pid")).split()[0])
            exe = os.path.realpath("/proc/%d/exe" % pid)
        except (OSError, ValueError, IndexError):
            return None
        # Never signal a recycled PID: it must still be Postfix's master.
        return pid if exe.endswith("/postfix/sbin/master") else None

    def start_postfix(self):
        self.postfix_started = True
        self.postfix_cmd("start")  # returns once the master is up (master -w)
        expect(self.postfix_master_pid(), "postfix started, but no master process found")

    def stop_postfix(self):
        if getattr(self, "postfix_started", False):
            pid = self.postfix_master_pid()
            if pid is not None:
                stop_session(pid, "postfix")
            self.postfix_started = False

    # -- clean-up ----------------------------------------------------------------
    def cleanup(self):
        """Stop everything, remove the users and the work directory; raise if anything is left."""
        problems = []
        # Daemons first (their processes run as the users), then the users.
        # Postfix before Dovecot: its smtpd processes hold connections to
        # Dovecot's auth service, which would otherwise linger.
        for fn in (self.stop_postfix, self.stop_dovecot):
            try:
                fn()
            except Exception as e:
                problems.append(str(e))
        for name, _ in self.accounts:
            res = run(["userdel", "-r", "-f", name], check=False)
            if run(["getent", "passwd", name], check=False).returncode == 0:
                problems.append("user %s not removed: %s" % (name, res.stderr.strip()))
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                problems.append(str(e))
        if getattr(self, "work", None) and os.path.exists(self.work):
            problems.append("work directory %s left" % self.work)
        if problems:
            raise Failure("; ".join(problems))

    def dump_logs(self):
        for title, path in (("dovecot", getattr(self, "dv_log", None)),
                            ("postfix", getattr(self, "pf_log", None))):
            if not path or not os.path.exists(path):
                continue
            lines = read(path).splitlines()
            print("---- %s log (%s, last %d of %d lines) ----" % (
                title, path, min(len(lines), 150), len(lines)))
            for l in lines[-150:]:
                print("  " + l)
        print("---- end of logs ----", flush=True)

    # -- users, 2FA, codes ---------------------------------------------------------
    def new_user(self):
        """A system user (pam_unix checks its password) that no case of this phase
        has used.  Accounts are made on first use and shared by the phases."""
        if self.next_account == len(self.accounts):
            name = "moit%s%02d" % (self.tag, len(self.accounts) + 1)
            password = "T9D3K!px-%s-q" % secrets.token_hex(4)
            # Never take over (and later delete) an account that is not ours.
            expect(run(["getent", "passwd", name], check=False).returncode == 2,
                   "user %s exists already" % name)
            self.accounts.append((name, password))  # first: removed at the end whatever happens
            run(["useradd", "--create-home", "--home-dir", os.path.join(self.homes, name),
                 "--shell", "/usr/sbin/nologin", "--user-group", name])
            run(["chpasswd"], input="%s:%s\n" % (name, password))
        name, password = self.accounts[self.next_account]
        self.next_account += 1
        return User(name, password)

    def cli(self, *args, check=True):
        res = run([self.cli_path, "--dir", self.store, "--conf", self.conf, "--json"] + list(args),
                  check=False)
        if check and res.returncode != 0:
            raise Failure("mailotp %s exited %d: %s" % (" ".join(args), res.returncode,
                                                          res.stdout.strip() or res.stderr.strip()))
        try:
            return json.loads(res.stdout) if res.stdout.strip() else {}
        except ValueError:
            raise Failure("mailotp %s: not JSON: %r" % (" ".join(args), res.stdout[:200]))

    def new_2fa_user(self):
        """A system user with 2FA enabled.  Confirmation uses up an earlier step than
        any login will need, so the first login can use the current code."""
        u = self.new_user()
        u.secret = self.cli("enroll", "--no-qr", u.name)["secret"]
        now = time.time()
        cur = int(now) // PERIOD
        # The previous step is inside the window unless the step is about to end.
        step = cur - 1 if PERIOD - now % PERIOD >= SAFE_LEFT else cur
        self.cli("confirm", u.name, self.totp(u, step))
        u.last_step = step
        return u

    def totp(self, u, step):
        return run(["oathtool", "--totp", "-b", "-N", "@%d" % (step * PERIOD), u.secret]
                   ).stdout.strip()

    def code(self, u):
        """A code that is valid now and newer than any this user has used.

        The current step when enough of it is left, else the next one (inside the
        default window of one step); waits only when both are used up.
        """
        while True:
            now = time.time()
            cur = int(now) // PERIOD
            left = PERIOD - now % PERIOD
            for step in (cur, cur + 1):
                if step > u.last_step and (step > cur or left >= SAFE_LEFT):
                    u.last_step = step
                    return self.totp(u, step)
            sleep_until(u.last_step * PERIOD + 0.2)

    def wrong_code(self, u):
        """Six digits that are no valid code of this user anywhere near now."""
        cur = int(time.time()) // PERIOD
        near = {self.totp(u, s) for s in range(cur - 2, cur + 3)}
        while True:
            c = "%06d" % secrets.randbelow(1000000)
            if c not in near:
                return c

    def status(self, u):
        return self.cli("status", u.name)

    def expect_last(self, u, **want):
        """The newest last-logins entry is `want`: entries of one second are listed in the
        order they happened (pam_mailotp(8) LAST LOGINS), whether kept with the state (code
        logins, wrong codes) or written straight to the log (replays, no code)."""
        logins = self.cli("last", u.name)["logins"]
        expect(logins, "no last-logins record for %s" % u.name)
        ok = all(logins[0].get(k) == v for k, v in want.items())
        expect(ok, "newest last-logins record %s, want %s" % (logins[0], want))

    def app_password(self, u, name="phone", services=None):
        args = ["app-password", "add", u.name, name]
        if services:
            args += ["--services", services]
        return self.cli(*args)["password"]

    # -- protocol helpers ------------------------------------------------------------
    def imap(self, user, secret, mech="LOGIN", select=True, source=None):
        """One IMAP login: True if accepted (and INBOX selected), False if refused."""
        conn = IMAP(self.imap_port, source)
        try:
            try:
                imap_auth(conn, user, secret, mech)
            except Refused:
                return False
            if select:
                typ, data = conn.select("INBOX")
                expect(typ == "OK", "SELECT INBOX: %s %s" % (typ, data))
            return True
        finally:
            try:
                conn.logout()
            except Exception:
                pass

    def smtp_session(self):
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, local_hostname="client.invalid", timeout=20)
        s.ehlo()
        return s

    def smtp_auth(self, s, user, secret, mech):
        """AUTH PLAIN or LOGIN: the reply code (235 accepted, 535 refused, ...)."""
        s.user, s.password = user, secret
        try:
            code, _ = s.auth(mech, s.auth_plain if mech == "PLAIN" else s.auth_login)
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code
        return code

    def smtp_send(self, s, user):
        """MAIL, RCPT, DATA; returns the queue id from the 250 after DATA."""
        code, msg = s.mail("%s@mailotp-it.invalid" % user)
        expect(code == 250, "MAIL FROM: %d %s" % (code, msg))
        code, msg = s.rcpt("somebody@example.net")
        expect(code == 250, "RCPT TO: %d %s" % (code, msg))
        body = ("From: %s@mailotp-it.invalid\r\nTo: somebody@example.net\r\n"
                "Subject: mailotp integration\r\n\r\nhello\r\n" % user)
        code, msg = s.data(body)
        expect(code == 250, "DATA: %d %s" % (code, msg))
        m = re.search(r"queued as (\w+)", msg.decode(errors="replace"))
        expect(m, "DATA: no queue id in %r" % msg)
        return m.group(1)

    def smtp_login_and_send(self, user, secret, mech):
        s = self.smtp_session()
        try:
            code = self.smtp_auth(s, user, secret, mech)
            expect(code == 235, "AUTH %s: %s, want 235" % (mech, code))
            qid = self.smtp_send(s, user)
        finally:
            try:
                s.quit()
            except Exception:
                pass
        # Postfix logs who sent it: the SASL login, not just any client.
        self.wait_log(self.pf_log, r"%s: client=.*sasl_method=%s, sasl_username=%s\b" % (
            qid, mech, re.escape(user)))

    def smtp_refused(self, user, secret, mech):
        s = self.smtp_session()
        try:
            code = self.smtp_auth(s, user, secret, mech)
        finally:
            try:
                s.quit()
            except Exception:
                pass
        expect(code == 535, "AUTH %s: %s, want 535" % (mech, code))

    def wait_log(self, path, pattern, timeout=10):
        deadline = time.time() + timeout
        while True:
            if os.path.exists(path) and re.search(pattern, read(path), re.M):
                return
            if time.time() > deadline:
                raise Failure("no line matching %r in %s" % (pattern, path))
            time.sleep(0.1)

    def panel(self, user, secret, rhost=PANEL_RHOST):
        """The panel's login check (examples/panel/mailpanel-login): True or False."""
        res = run([os.path.join(EXAMPLES, "panel", "mailpanel-login"), user, rhost],
                  input=secret + "\n", check=False)
        if res.returncode == 0:
            expect("successfully authenticated" in res.stderr + res.stdout,
                   "pamtester exit 0 without success message: %s" % res.stderr)
            return True
        # Only PAM's plain refusals count; anything else (e.g. an error from the
        # store, "Authentication information cannot be recovered") fails the case.
        msg = (res.stderr + res.stdout).strip()
        expect(re.search(r"Authentication failure|maximum number of retries", msg),
               "pamtester: unexpected failure: %s" % msg)
        return False

    def doveadm(self, user, secret, service="imap", rip="127.0.0.1"):
        """doveadm auth test through the running Dovecot: True or False."""
        res = run(["doveadm", "-c", self.dv_conf, "auth", "test", "-x", "service=" + service,
                   "-x", "rip=" + rip, user, secret], check=False)
        out = res.stdout + res.stderr
        if res.returncode == 0 and "auth succeeded" in out:
            return True
        expect(res.returncode == 77 and "auth failed" in out,
               "doveadm auth test: exit %d: %s" % (res.returncode, out.strip()))
        return False

    # -- cases ------------------------------------------------------------------------
    def stack_cases(self):
        s = self.stack
        return [
            ("imap_login_code_select", self.c_imap_login_code),
            ("imap_authenticate_plain_code_select", self.c_imap_plain_code),
            ("imap_wrong_code_refused", self.c_imap_wrong_code),
            ("imap_wrong_password_refused", self.c_imap_wrong_password),
            ("imap_password_alone_refused", self.c_imap_password_alone),
            ("imap_code_alone_refused", self.c_imap_code_alone),
            ("imap_replayed_code_refused", self.c_imap_replay),
            ("imap_user_without_2fa", self.c_imap_no_2fa),
            ("imap_app_password", self.c_imap_app_password),
            ("imap_revoked_app_password_refused", self.c_imap_revoked),
            ("smtp_auth_plain_code_sends", lambda: self.c_smtp_code("PLAIN")),
            ("smtp_auth_login_code_sends", lambda: self.c_smtp_code("LOGIN")),
            ("smtp_auth_plain_app_password_sends", lambda: self.c_smtp_app("PLAIN")),
            ("smtp_auth_login_app_password_sends", lambda: self.c_smtp_app("LOGIN")),
            ("smtp_refusals_535", self.c_smtp_refusals),
            ("smtp_unauthenticated_cannot_send", self.c_smtp_unauth),
            ("smtp_last_logins_service_and_rhost", self.c_smtp_last),
            ("panel_pamtester_code_rhost", self.c_panel_code),
            ("panel_app_password_refused", self.c_panel_app_password),
            ("panel_wrong_code_refused", self.c_panel_wrong_code),
            ("wrong_password_then_same_code" if s == "hardened" else
             "wrong_password_uses_up_code", self.c_wrong_password_then_right),
            ("wrong_passwords_not_counted" if s == "hardened" else
             "wrong_codes_counted_whatever_the_password", self.c_wrong_passwords_counting),
            ("parallel_imap_without_grace_one_succeeds", self.c_parallel_no_grace),
            ("parallel_imap_with_reuse_grace", self.c_parallel_grace),
            ("lockout_through_imap_then_lifted", self.c_lockout),
            ("doveadm_auth_test_agrees_with_imap", self.c_doveadm_agrees),
        ]

    def c_imap_login_code(self):
        u = self.new_2fa_user()
        expect(self.imap(u.name, u.password + self.code(u)), "password+code refused")
        self.expect_last(u, result="success", method="code", service="imap", rhost="127.0.0.1")

    def c_imap_plain_code(self):
        u = self.new_2fa_user()
        expect(self.imap(u.name, u.password + self.code(u), mech="PLAIN"),
               "password+code refused")

    def c_imap_wrong_code(self):
        u = self.new_2fa_user()
        expect(not self.imap(u.name, u.password + self.wrong_code(u)), "wrong code accepted")
        self.expect_last(u, result="failure", reason="wrong-code")
        expect(self.status(u)["failures"] == 1, "failure not counted: %s" % self.status(u))

    def c_imap_wrong_password(self):
        u = self.new_2fa_user()
        expect(not self.imap(u.name, "Wrong-" + u.password + self.code(u)),
               "wrong password with a valid code accepted")
        expect(not self.imap(u.name, "Wrong-" + u.password, mech="PLAIN"),
               "wrong password without a code accepted")

    def c_imap_password_alone(self):
        u = self.new_2fa_user()
        expect(not self.imap(u.name, u.password), "password alone accepted")
        self.expect_last(u, result="failure", reason="no-code")
        expect(self.status(u)["failures"] == 0, "counted as a wrong code")

    def c_imap_code_alone(self):
        u = self.new_2fa_user()
        expect(not self.imap(u.name, self.code(u)), "code alone accepted")
        self.expect_last(u, result="failure", reason="no-code")

    def c_imap_replay(self):
        u = self.new_2fa_user()
        secret = u.password + self.code(u)
        expect(self.imap(u.name, secret), "first login refused")
        expect(not self.imap(u.name, secret), "replayed password+code accepted")
        self.expect_last(u, result="failure", reason="replayed-code")
        expect(self.status(u)["failures"] == 0, "a replay was counted as a wrong code")

    def c_imap_no_2fa(self):
        u = self.new_user()
        expect(self.imap(u.name, u.password), "plain password of a user without 2FA refused")
        expect(self.imap(u.name, u.password, mech="PLAIN"), "AUTHENTICATE PLAIN refused")
        expect(not self.imap(u.name, u.password + "x"), "wrong password accepted")

    def c_imap_app_password(self):
        u = self.new_2fa_user()
        pw = self.app_password(u, "thunderbird", "imap,smtp")
        expect(self.imap(u.name, pw), "app password refused")
        expect(self.imap(u.name, pw, mech="PLAIN"), "app password refused again (PLAIN)")
        self.expect_last(u, result="success", method="app-password:thunderbird", service="imap")
        # Scoped to imap,smtp: another protocol's service (pop3, same stack) may not use it.
        expect(not self.doveadm(u.name, pw, service="pop3"), "app password accepted for pop3")
        self.expect_last(u, result="failure", reason="app-password-not-allowed", service="pop3")

    def c_imap_revoked(self):
        u = self.new_2fa_user()
        pw = self.app_password(u, "old-phone")
        expect(self.imap(u.name, pw), "app password refused before revocation")
        self.cli("app-password", "revoke", u.name, "old-phone")
        expect(not self.imap(u.name, pw), "revoked app password still accepted")

    def c_smtp_code(self, mech):
        u = self.new_2fa_user()
        self.smtp_login_and_send(u.name, u.password + self.code(u), mech)

    def c_smtp_app(self, mech):
        u = self.new_2fa_user()
        pw = self.app_password(u, "outlook", "smtp")
        self.smtp_login_and_send(u.name, pw, mech)
        self.expect_last(u, result="success", method="app-password:outlook", service="smtp")

    def c_smtp_refusals(self):
        u = self.new_2fa_user()
        self.smtp_refused(u.name, u.password + self.wrong_code(u), "PLAIN")
        self.smtp_refused(u.name, "Wrong-" + u.password + self.code(u), "LOGIN")
        self.smtp_refused(u.name, u.password, "PLAIN")
        self.smtp_refused(u.name, self.code(u), "LOGIN")
        app = self.app_password(u, "imap-only", "imap")
        self.smtp_refused(u.name, app, "PLAIN")  # not allowed for smtp

    def c_smtp_unauth(self):
        s = self.smtp_session()
        try:
            expect(s.mail("someone@example.org")[0] == 250, "MAIL FROM refused")
            code, msg = s.rcpt("somebody@example.net")
            expect(code in (554, 553, 550), "unauthenticated RCPT got %d %s" % (code, msg))
        finally:
            s.quit()

    def c_smtp_last(self):
        u = self.new_2fa_user()
        self.smtp_login_and_send(u.name, u.password + self.code(u), "PLAIN")
        self.expect_last(u, result="success", method="code", service="smtp", rhost="127.0.0.1")

    def c_panel_code(self):
        u = self.new_2fa_user()
        expect(self.panel(u.name, u.password + self.code(u)), "pamtester refused password+code")
        self.expect_last(u, result="success", method="code", service="mailpanel",
                         rhost=PANEL_RHOST)

    def c_panel_app_password(self):
        u = self.new_2fa_user()
        pw = self.app_password(u, "everything")  # no --services: allowed everywhere but the panel
        expect(not self.panel(u.name, pw), "panel accepted an app password")
        expect(self.imap(u.name, pw), "the same app password refused for IMAP")
        w = self.new_user()  # without 2FA: the panel must not take it either
        wpw = self.app_password(w, "everything")
        expect(not self.panel(w.name, wpw), "panel accepted an app password of a user without 2FA")
        expect(self.panel(w.name, w.password), "panel refused the plain password without 2FA")

    def c_panel_wrong_code(self):
        u = self.new_2fa_user()
        expect(not self.panel(u.name, u.password + self.wrong_code(u)), "wrong code accepted")
        self.expect_last(u, result="failure", reason="wrong-code", service="mailpanel",
                         rhost=PANEL_RHOST)

    def c_wrong_password_then_right(self):
        u = self.new_2fa_user()
        code = self.code(u)
        expect(not self.imap(u.name, "Wrong-" + u.password + code), "wrong password accepted")
        st = self.status(u)
        expect(st["failures"] == 0, "a wrong password moved the failure counter: %s" % st)
        ok = self.imap(u.name, u.password + code)
        if self.stack == "hardened":
            expect(ok, "right password with the same code refused: the wrong password used it up")
        else:
            # Documented price of the simple stack: the code was checked first.
            expect(not ok, "simple stack: the code survived a wrong password")
            self.expect_last(u, result="failure", reason="replayed-code")

    def c_wrong_passwords_counting(self):
        u = self.new_2fa_user()
        for _ in range(LOCKOUT_AFTER + 1):
            expect(not self.imap(u.name, "Wrong-" + u.password + self.wrong_code(u)),
                   "wrong password+wrong code accepted")
        st = self.status(u)
        if self.stack == "hardened":
            expect(st["failures"] == 0 and not st["locked"],
                   "wrong passwords moved the lockout counter: %s" % st)
            expect(self.imap(u.name, u.password + self.code(u)), "right login refused afterwards")
        else:
            # Simple stack: the code is checked before the password, so anyone who
            # knows the address can push the mailbox into the back-off.
            expect(st["failures"] == LOCKOUT_AFTER + 1 and st["locked"],
                   "simple stack: wrong codes not counted: %s" % st)

    def parallel(self, user, secret, n, source=None):
        """n IMAP logins sent at the same moment; returns how many were accepted."""
        conns = [IMAP(self.imap_port, source) for _ in range(n)]
        barrier = threading.Barrier(n)
        results = [None] * n

        def one(i):
            barrier.wait()
            try:
                results[i] = imap_auth(conns[i], user, secret, "LOGIN")
            except Refused:
                results[i] = False
            except Exception as e:
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in conns:
            try:
                c.logout()
            except Exception:
                pass
        errors = [r for r in results if not isinstance(r, bool)]
        expect(not errors, "parallel login errors: %s" % errors)
        return sum(1 for r in results if r)

    def c_parallel_no_grace(self):
        u = self.new_2fa_user()
        ok = self.parallel(u.name, u.password + self.code(u), 5)
        expect(ok == 1, "%d of 5 parallel logins with one code succeeded, want 1" % ok)

    def c_parallel_grace(self):
        u = self.new_2fa_user()
        self.use_stack(self.stack, "reuse_grace=60")
        try:
            secret = u.password + self.code(u)
            ok = self.parallel(u.name, secret, 5)
            expect(ok == 5, "with reuse_grace %d of 5 parallel logins succeeded, want 5" % ok)
            expect(not self.imap(u.name, secret, source="127.0.0.2"),
                   "the same password+code accepted from another address (127.0.0.2)")
            self.expect_last(u, result="failure", reason="replayed-code", rhost="127.0.0.2")
        finally:
            self.use_stack(self.stack)

    def c_lockout(self):
        u = self.new_2fa_user()
        for i in range(LOCKOUT_AFTER + 1):
            expect(not self.imap(u.name, u.password + self.wrong_code(u)), "wrong code accepted")
        st = self.status(u)
        expect(st["locked"] and st["failures"] == LOCKOUT_AFTER + 1, "not locked: %s" % st)
        until = calendar.timegm(time.strptime(st["locked_until"], "%Y-%m-%dT%H:%M:%SZ"))
        code = self.code(u)
        expect(not self.imap(u.name, u.password + code), "right code accepted while locked out")
        self.expect_last(u, result="failure", reason="locked-out")
        # Dovecot agrees while the back-off lasts.
        expect(not self.doveadm(u.name, u.password + code), "doveadm: accepted while locked")
        expect(time.time() < until, "machine too slow: the back-off ended before it was tested")
        sleep_until(until + 1.2)
        expect(self.imap(u.name, u.password + self.code(u)),
               "right password+code refused after the back-off")
        st = self.status(u)
        expect(st["failures"] == 0 and not st["locked"], "success did not reset: %s" % st)

    def c_doveadm_agrees(self):
        """The same sequence of attempts, once through IMAP and once through
        doveadm auth test, for two users in the same situation: same answers."""
        def sequence(check):
            u = self.new_2fa_user()
            plain = self.new_user()
            app = self.app_password(u, "tablet")
            code = self.code(u)
            good = u.password + code
            tries = [
                ("password+code", good),
                ("replay", good),
                ("wrong code", u.password + self.wrong_code(u)),
                ("password alone", u.password),
                ("code alone", code),
                ("wrong password", "Wrong-" + u.password + self.code(u)),
                ("app password", app),
            ]
            got = [(what, check(u.name, s)) for what, s in tries]
            got.append(("user without 2FA", check(plain.name, plain.password)))
            return got

        want = [True, False, False, False, False, False, True, True]
        imap = sequence(lambda user, s: self.imap(user, s, select=False))
        dove = sequence(self.doveadm)
        expect([r for _, r in imap] == want, "IMAP answers unexpected: %s" % imap)
        expect(imap == dove, "doveadm %s vs IMAP %s" % (dove, imap))

    def run_all(self):
        for stack in ("simple", "hardened"):
            if stack != self.stack:
                self.begin_phase(stack)
            for name, fn in self.stack_cases():
                self.case("%s.%s" % (stack, name), fn)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="build directory holding pam_mailotp.so and mailotp")
    ap.add_argument("--times", action="store_true", help="show each case's duration")
    ap.add_argument("-k", dest="only", help="run only the cases whose name matches this regex")
    args = ap.parse_args()
    module = os.environ.get("MAILOTP_MODULE")
    cli = os.environ.get("MAILOTP_CLI")
    if args.build:
        module = module or os.path.join(os.path.abspath(args.build), "pam_mailotp.so")
        cli = cli or os.path.join(os.path.abspath(args.build), "mailotp")
    if not module or not cli:
        ap.error("set MAILOTP_MODULE and MAILOTP_CLI, or give --build DIR")
    if os.geteuid() != 0:
        sys.exit("integration: must run as root (system users, Dovecot, Postfix)")

    # A private mount namespace, so /etc/pam.d can be replaced for this run only.
    if os.environ.get(IN_NS_ENV) != "1":
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            print("FAIL setup: cannot make a private mount namespace (unshare --mount): %s"
                  % probe.stderr.strip())
            print("0 passed, 1 failed")
            sys.exit(1)
        os.environ[IN_NS_ENV] = "1"
        cmd = ["unshare", "--mount", "--propagation", "private", "--",
               sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        os.execvp(cmd[0], cmd)
    # Never bind over the machine's own /etc/pam.d: we must be in a namespace of our own.
    if os.readlink("/proc/self/ns/mnt") == os.readlink("/proc/%d/ns/mnt" % os.getppid()):
        print("FAIL setup: %s is set but this is not a private mount namespace" % IN_NS_ENV)
        print("0 passed, 1 failed")
        sys.exit(1)

    # SIGTERM/SIGHUP unwind through the finally below like Ctrl-C does.
    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    suite = Suite(os.path.abspath(module), os.path.abspath(cli), args.times)
    if args.only:
        pattern = re.compile(args.only)
        orig = suite.stack_cases
        suite.stack_cases = lambda: [(n, f) for n, f in orig()
                                     if pattern.search("%s.%s" % (suite.stack, n))]
    t0 = time.time()
    try:
        try:
            suite.setup()
        except Exception as e:
            suite.report("setup", False, "%s: %s" % (type(e).__name__, e))
        else:
            suite.run_all()
    except KeyboardInterrupt as e:
        suite.report("interrupted", False, str(e) or "interrupted")
    finally:
        # Clean-up runs to the end: a second Ctrl-C or SIGTERM must not cut it short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if any(not ok for _, ok, _, _ in suite.results):
            suite.dump_logs()
        t1 = time.time()
        try:
            suite.cleanup()
        except Exception as e:
            suite.report("cleanup", False, str(e))
        else:
            suite.report("cleanup", True, "", time.time() - t1)
    passed = sum(1 for _, ok, _, _ in suite.results if ok)
    failed = len(suite.results) - passed
    if args.times:
        print("(%.0f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
