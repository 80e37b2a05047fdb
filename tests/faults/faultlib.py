# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the fault, crash and full-disk tests.

Every run of pamauth (which dlopens the real module) and of the real mailotp
CLI goes through faultshim.so (LD_PRELOAD, test builds only) with a fixed
clock (FAULT_NOW), so a whole scenario is deterministic: the codes come from
oathtool at that time, and the files a login writes are byte-for-byte the same
on every run.  That is what lets the tests say "old or new version" exactly.
"""
import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pam"))

from mailotp_testlib import (CLI, EXPECT, MODULE, PAMAUTH, PERIOD, World,  # noqa: E402
                             oathtool_code)
import mailotp_testlib as tl  # noqa: E402

SHIM = os.environ.get("MAILOTP_FAULTSHIM")
PW = "T9D3K!px"
# The fixed clock: mid-step, so T and T +- 30 s are three distinct steps.
T = 1_700_000_025
STEP = T // PERIOD

# Every function the shim wraps, in the order the tests iterate over them.
FILE_FUNCS = ["open", "openat", "read", "pread", "write", "pwrite", "fsync", "fdatasync",
              "ftruncate", "fstat", "statx", "rename", "renameat", "renameat2", "linkat", "unlinkat",
              "mkdirat", "flock", "fchmod", "close"]
ALLOC_FUNCS = ["malloc", "calloc"]
FUNCS = FILE_FUNCS + ALLOC_FUNCS

# What the shim's errno turns into in the module's detail text.
STRERROR = {"EIO": "Input/output error", "ENOSPC": "No space left on device",
            "ENOMEM": "Cannot allocate memory", "EDQUOT": "Disk quota exceeded"}


def require_env(testcase_cls):
    missing = [n for n, v in (("MAILOTP_MODULE", MODULE), ("MAILOTP_EXPECT_MODULE", EXPECT),
                              ("MAILOTP_PAMAUTH", PAMAUTH), ("MAILOTP_CLI", CLI),
                              ("MAILOTP_FAULTSHIM", SHIM)) if not v]
    if missing:
        raise unittest.SkipTest("run through ctest: %s not set" % ", ".join(missing))
    if shutil.which("oathtool") is None:
        raise AssertionError("oathtool is required (apt-get install oathtool)")


CODES = {}  # (secret, time) -> code from oathtool: the clock is fixed, so ask once


class Call:
    """One line of the shim's trace: FUNC N PATH MODE [INJECT]."""

    __slots__ = ("func", "n", "path", "mode", "inject")

    def __init__(self, line):
        parts = line.split()
        self.func, self.n, self.path, self.mode = parts[0], int(parts[1]), parts[2], parts[3]
        self.inject = len(parts) > 4 and parts[4] == "INJECT"

    def __repr__(self):
        return "%s#%d(%s,%s)%s" % (self.func, self.n, self.path, self.mode,
                                   " INJECT" if self.inject else "")


def read_trace(path):
    try:
        with open(path) as f:
            return [Call(l) for l in f.read().splitlines() if l.strip()]
    except FileNotFoundError:
        return []


def counts(trace):
    c = {}
    for call in trace:
        if call.n > 0:
            c[call.func] = max(c.get(call.func, 0), call.n)
    return c


class Run:
    """What one process did: result word (pamauth) or exit status (CLI), output, trace."""

    def __init__(self, res, result, trace, log_lines):
        self.returncode = res.returncode
        self.stdout = res.stdout
        self.stderr = res.stderr
        self.result = result
        self.trace = trace
        self.log = log_lines

    @property
    def injected(self):
        hits = [c for c in self.trace if c.inject]
        return hits[0] if hits else None

    @property
    def killed(self):
        return self.returncode == -9


class FaultWorld(World):
    """A World whose processes all run under the shim, at a fixed time."""

    def __init__(self, conf_text="", module_args=""):
        super().__init__(conf_text, module_args)
        self.store = os.path.realpath(self.store)
        self.tracefile = os.path.join(self.root, "trace")
        self.versions = os.path.join(self.root, "versions")
        os.mkdir(self.versions)
        self.runs = 0

    def env(self, now, fault=None, versions=False):
        e = {k: v for k, v in os.environ.items() if not k.startswith("FAULT_")}
        e.update(LD_PRELOAD=SHIM, FAULT_NOW=str(now), FAULT_DIR=self.store, FAULT_EXTRA=self.conf,
                 FAULT_TRACE=self.tracefile, PAMAUTH_SYSLOG=self.syslog)
        if versions:
            e["FAULT_VERSIONS"] = self.versions
        for k, v in (fault or {}).items():
            e["FAULT_" + k.upper()] = str(v)
        return e

    def login_cmd(self, service, user, answer, now=T, fault=None, versions=False):
        """(argv, stdin, env) of one pamauth login under the shim."""
        cmd = [PAMAUTH, "--confdir", self.confdir, "--rhost", "192.0.2.7", service, user]
        return cmd, answer + "\n", self.env(now, fault, versions)

    def cli_cmd(self, *args, now=T, fault=None, versions=False):
        """(argv, stdin, env) of one mailotp run under the shim."""
        cmd = [CLI, "--dir", self.store, "--conf", self.conf] + list(args)
        return cmd, "", self.env(now, fault, versions)

    def clear_trace(self):
        try:
            os.unlink(self.tracefile)
        except FileNotFoundError:
            pass

    def _run(self, cmd, stdin, env, timeout=60):
        self.clear_trace()
        nlog = len(self.log_lines())
        self.runs += 1
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env,
                             timeout=timeout)
        return res, read_trace(self.tracefile), self.log_lines()[nlog:]

    def run_login(self, service, user, answer, now=T, fault=None, versions=False):
        res, trace, log = self._run(*self.login_cmd(service, user, answer, now, fault, versions))
        words = res.stdout.split()
        result = words[0] if words else "no-result(rc=%d)" % res.returncode
        return Run(res, result, trace, log)

    def run_cli(self, *args, now=T, fault=None, versions=False):
        res, trace, log = self._run(*self.cli_cmd(*args, now=now, fault=fault,
                                                  versions=versions))
        return Run(res, res.returncode, trace, log)

    def run_spec(self, spec, now=T, **kw):
        """spec: ("login", service, user, answer) or ("cli", arg, ...)."""
        if spec[0] == "login":
            return self.run_login(*spec[1:], now=now, **kw)
        return self.run_cli(*spec[1:], now=now, **kw)

    def spec_cmd(self, spec, now=T, **kw):
        if spec[0] == "login":
            return self.login_cmd(*spec[1:], now=now, **kw)
        return self.cli_cmd(*spec[1:], now=now, **kw)

    def jcli(self, *args, now=T):
        r = self.run_cli("--json", *args, now=now)
        if r.returncode != 0:
            raise AssertionError("mailotp --json %s -> %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout)

    def enable_at(self, user, when, password=PW):
        """Enroll + confirm at time `when` (codes from oathtool at that time)."""
        r = self.run_cli("enroll", "--no-qr", user, now=when)
        m = re.search(r"^otpauth://totp/\S*[?&]secret=([A-Z2-7]+)", r.stdout, re.M)
        if r.returncode != 0 or not m:
            raise AssertionError("enroll failed: %s %s" % (r.stdout, r.stderr))
        self.secrets[user] = m.group(1)
        r = self.run_cli("confirm", user, oathtool_code(self.secrets[user], when), now=when)
        if r.returncode != 0:
            raise AssertionError("confirm failed: %s %s" % (r.stdout, r.stderr))
        self.set_password(user, password)

    def code_at(self, user, when):
        key = (self.secrets[user], when)
        if key not in CODES:
            CODES[key] = oathtool_code(self.secrets[user], when)
        return CODES[key]

    # -- the store's files -------------------------------------------------------
    def files(self):
        """{relative path: (bytes, mode, nlink)} of every regular file in the store."""
        out = {}
        for dirpath, dirnames, filenames in os.walk(self.store):
            for name in filenames:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, self.store)] = (f.read(), st.st_mode & 0o7777,
                                                           st.st_nlink)
        return out

    def snapshot(self, name):
        dst = os.path.join(self.root, "snap-" + name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(self.store, dst, symlinks=True)
        return dst

    def restore(self, snap):
        # Empty the store in place (it may be a mount point), then copy the snapshot in.
        for name in os.listdir(self.store):
            p = os.path.join(self.store, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        shutil.copytree(snap, self.store, symlinks=True, dirs_exist_ok=True)
        os.chmod(self.store, 0o700)

    def take_versions(self):
        """{relative path: set(bytes)} of every version the shim saw put in place; then clear."""
        out = {}
        for name in os.listdir(self.versions):
            p = os.path.join(self.versions, name)
            with open(p, "rb") as f:
                data = f.read()
            target, _, body = data.partition(b"\n")
            out.setdefault(target.decode(), set()).add(body)
            os.unlink(p)
        return out


def is_temp(rel):
    """A writer's temporary file: ".NAME.RANDOM" (not the store itself, ".")."""
    base = os.path.basename(rel)
    return base.startswith(".") and base not in (".", "..")


def state_key(files):
    """What a login's decision depends on: every file's bytes except the last-logins log
    (only ever appended to; a corrupt one is started afresh), temporary files by their
    place and target (their random suffix aside).  With the clock fixed, the same key
    means the same outcome, so the tests prove "the next login works" once per key."""
    key = []
    for rel, (data, mode, nlink) in sorted(files.items()):
        if is_temp(rel):
            d, _, base = rel.rpartition("/")
            key.append((d, base.rsplit(".", 1)[0], "temp"))
        elif not rel.startswith("last/"):
            key.append((rel, data, mode, nlink))
    return tuple(key)


class UserView:
    """What a reader gets for one user from a store's files (FaultWorld.files()): from
    users/USER when it is there, else from the 0.2.0 layout (records/USER, state/USER).
    record: the record text; state: the state text, or "" when there is none; where:
    "users" or "0.2.0"."""

    __slots__ = ("record", "state", "where")

    def __init__(self, record, state, where):
        self.record, self.state, self.where = record, state, where

    def __repr__(self):
        return "UserView(%s, %d+%d bytes)" % (self.where, len(self.record), len(self.state))

    @property
    def fields(self):
        return tl.state_fields(self.state)

    def key(self):
        return (self.record, self.state)


def user_view(files, user):
    """UserView of `user` in files, or None when the user has no record anywhere.  Raises
    StateFormatError when no reader may accept what is there: a user file with no valid
    slot or no record in it, records/USER saying "moved" without users/USER, a state of
    0.2.0 that does not decode."""
    if "users/" + user in files:
        rec, st = tl.decode_user(files["users/" + user][0])
        return UserView(rec, st, "users")
    rec = files.get("records/" + user)
    if rec is None:
        return None
    if rec[0] == tl.MOVED_RECORD:
        raise tl.StateFormatError("records/%s says moved, users/%s is missing" % (user, user))
    st = files.get("state/" + user)
    return UserView(rec[0].decode("ascii"), "" if st is None else tl.decode_state(st[0]),
                    "0.2.0")


# -- last-logins entries --------------------------------------------------------------
# Since 0.3.2 a login whose outcome writes the user's state (a code or recovery code
# accepted, a wrong code counted) keeps its entry in that slot write of users/KEY (the
# slot's extension: "pending" entries, a small log in the file format); the writer moves
# them to last/KEY (one append + fdatasync, or a durable rewrite) when they reach
# min(keep, 32).  Outcomes that write no state append straight to last/KEY (no flush).
# A reader merges both.  The tests read both with the independent decoders.

PENDING_MAX = 32
LOST = "pending last-logins entries lost"  # the warning of a failed move
NOT_WRITTEN = "last-logins log not written"


def pending_log(data):
    """The pending entries of a user file's bytes (a LastLog), or None when its current slot
    has no extension (or no valid slot)."""
    try:
        slot = tl.current_slot(data)[1]
    except tl.StateFormatError:
        return None
    if slot.ext is None:
        return None
    return tl.decode_lastlog(slot.ext)


def login_lines(files, user):
    """(lines of last/USER, pending lines of users/USER): every complete, valid entry line
    a reader merges (a log that does not decode counts as none)."""
    log = []
    if "last/" + user in files:
        try:
            log = list(tl.decode_lastlog(files["last/" + user][0]).lines)
        except tl.StateFormatError:
            pass
    pend = []
    if "users/" + user in files:
        p = pending_log(files["users/" + user][0])
        if p is not None:
            pend = list(p.lines)
    return log, pend


def reader_view(files, user):
    """The entries `mailotp last` shows (newest last), modelled from the documentation of
    lastlog_merge: the log's entries (the newest `keep` by time, as the log's decoder reads
    them) and the pending ones, in time order, the pending first within
    one second, the newest `keep` of them (the pending log's keep, else the log's, else
    200)."""
    log, pend = None, None
    if "last/" + user in files:
        try:
            log = tl.decode_lastlog(files["last/" + user][0])
        except tl.StateFormatError:
            pass
    if "users/" + user in files:
        pend = pending_log(files["users/" + user][0])
    entries = sorted(log.entries if log else [], key=lambda l: line_fields(l)[0])
    merged = sorted((pend.entries if pend else []) + entries, key=lambda l: line_fields(l)[0])
    keep = (pend.keep if pend else None) or (log.keep if log else None) or 200
    return merged[-keep:]


def line_fields(line):
    """(time, result, method, service, rhost, reason) of an entry line."""
    m = tl.LOGIN_RE.match(line)
    if m is None:
        raise ValueError("not an entry line: %r" % line)
    return (int(m.group(1)),) + m.groups()[1:]


def json_line(e):
    """The log line of one entry of `mailotp --json last` (null fields were "-")."""
    when = calendar.timegm(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ"))
    return "login = %d %s %s %s %s %s" % (when, e["result"], e["method"] or "-",
                                          e["service"] or "-", e["rhost"] or "-", e["reason"])


def v1_lastlog(lines):
    """A last-logins log in the format of 0.1.0 (version 1, "end") holding `lines`."""
    return ("# pam_mailotp last logins\nversion = 1\n" + "".join(l + "\n" for l in lines)
            + "end\n").encode()


def make_legacy(store, user):
    """tl.make_legacy (users/USER back to the 0.2.0 layout), and the user's pending
    last-logins entries written to last/USER, where 0.2.0 kept every entry."""
    with open(tl.user_path(store, user), "rb") as f:
        pend = pending_log(f.read())
    tl.make_legacy(store, user)
    if pend is None or not pend.lines:
        return
    path = os.path.join(store, "last", user)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    header = "# pam_mailotp last logins\nversion = 2\nkeep = %d\n" % pend.keep
    try:
        with open(path, "rb") as f:
            old = f.read()
    except FileNotFoundError:
        old = header.encode()
    if not old.startswith(header.encode()):
        raise AssertionError("make_legacy: last/%s keeps another number" % user)
    with open(path + ".harness", "wb") as f:
        f.write(old + "".join(l + "\n" for l in pend.lines).encode())
    os.chmod(path + ".harness", 0o600)
    os.rename(path + ".harness", path)


# Known module bugs (see the report in tests/faults/README.md).  A check that
# hits one of these is reported as an expected failure; if one stops
# reproducing, the test fails so that the entry gets removed.  Set
# MAILOTP_FAULTS_STRICT=1 to make them plain failures.
STRICT = os.environ.get("MAILOTP_FAULTS_STRICT") == "1"


class KnownBugs:
    def __init__(self, known):
        self.known = dict(known)
        self.seen = {}

    def hit(self, tc, key, message):
        """A check failed: fail the test unless it is a known bug."""
        if key not in self.known or STRICT:
            tc.fail("%s%s" % ("[known bug %s] " % key if key in self.known else "", message))
        self.seen.setdefault(key, message)

    def report(self, tc, expected_keys):
        for key in sorted(self.seen):
            sys.stderr.write("\nKNOWN BUG %s: %s\n  e.g. %s\n" % (key, self.known[key],
                                                                  self.seen[key][:400]))
        gone = [k for k in expected_keys if k not in self.seen]
        if gone:
            tc.fail("known bug(s) %s no longer reproduce: remove them from KNOWN_BUGS" % gone)
