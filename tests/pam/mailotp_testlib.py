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
import zlib

MODULE = os.environ.get("MAILOTP_MODULE")
EXPECT = os.environ.get("MAILOTP_EXPECT_MODULE")
PAMAUTH = os.environ.get("MAILOTP_PAMAUTH")
CLI = os.environ.get("MAILOTP_CLI")

PERIOD = 30
# e.g. "valgrind --error-exitcode=99 ...": every pamauth and mailotp run goes through it.
WRAPPER = shlex.split(os.environ.get("MAILOTP_WRAPPER", ""))
WRAPPER_FAILED = 99



# -- the per-user state file: an independent decoder --------------------------------
# Written from the format description (src/slots.h), never from the C code, and never
# calling it: the tests use it as the oracle of what a reader of DIR/state/KEY gets.
#
#   the file: exactly 8192 bytes, two slots of 4096 bytes
#   a slot:   0..7 b"MOTPSLOT", 8..15 seq (u64 LE, >= 1), 16..19 payload length (u32 LE,
#             1..4072), 20..23 zlib.crc32 of bytes 0..19 followed by the payload, then the
#             payload (the text state format), then optionally (0.3.2) an extension:
#             0..7 b"MOTPEXT1", 8..11 data length (u32 LE, >= 1), 12..15 zlib.crc32 of the
#             slot's bytes 8..15 (its seq), then of the extension's bytes 0..11, then of the
#             data; then the data (pending last-logins entries, in the log's file format);
#             then zero bytes.  A slot is valid only when what follows its payload is zero
#             bytes, or a valid extension then zero bytes (a write torn after the payload,
#             or damage there, makes it invalid: the reader takes the other slot).
#   reader:   the valid slot with the higher seq; none valid, or both valid with the same
#             seq: refused.  A file of another size without a NUL byte is the text state
#             file of 0.1.0 (read as it is); any other file is refused.
SLOT_SIZE = 4096
SLOT_FILE_SIZE = 2 * SLOT_SIZE
SLOT_HEADER = 24
SLOT_PAYLOAD_MAX = SLOT_SIZE - SLOT_HEADER
SLOT_MAGIC = b"MOTPSLOT"
EXT_MAGIC = b"MOTPEXT1"
EXT_HEADER = 16


class StateFormatError(ValueError):
    """A state file no reader may accept."""


class Slot:
    """One valid slot: its sequence number, payload, extension data (None when it has
    none) and whether its padding after both is all zero."""

    __slots__ = ("seq", "payload", "ext", "clean")

    def __init__(self, seq, payload, ext, clean):
        self.seq, self.payload, self.ext, self.clean = seq, payload, ext, clean

    def __repr__(self):
        return "Slot(seq=%d, %d bytes%s%s)" % (
            self.seq, len(self.payload),
            "" if self.ext is None else ", %d bytes pending" % len(self.ext),
            "" if self.clean else ", dirty padding")


def decode_slot(raw):
    """A Slot for SLOT_SIZE bytes, or None when the slot is not valid."""
    if len(raw) != SLOT_SIZE or raw[:8] != SLOT_MAGIC:
        return None
    seq = int.from_bytes(raw[8:16], "little")
    length = int.from_bytes(raw[16:20], "little")
    crc = int.from_bytes(raw[20:24], "little")
    if seq == 0 or not 1 <= length <= SLOT_PAYLOAD_MAX:
        return None
    payload = raw[SLOT_HEADER:SLOT_HEADER + length]
    if zlib.crc32(raw[:20] + payload) & 0xFFFFFFFF != crc:
        return None
    end = SLOT_HEADER + length
    ext = None
    x = raw[end:]
    if len(x) >= EXT_HEADER and x[:8] == EXT_MAGIC:
        xlen = int.from_bytes(x[8:12], "little")
        xcrc = int.from_bytes(x[12:16], "little")
        data = x[EXT_HEADER:EXT_HEADER + xlen]
        if (xlen >= 1 and len(data) == xlen
                and zlib.crc32(raw[8:16] + x[:12] + data) & 0xFFFFFFFF == xcrc):
            ext = data
            end += EXT_HEADER + xlen
    if any(raw[end:]):
        return None
    return Slot(seq, payload, ext, True)


def encode_slot(seq, payload, ext=None):
    """SLOT_SIZE bytes of one valid slot (for tests that plant state files), with the
    extension data ext (str or bytes) after the payload unless it is None."""
    if isinstance(payload, str):
        payload = payload.encode()
    assert seq >= 1 and 1 <= len(payload) <= SLOT_PAYLOAD_MAX
    head = SLOT_MAGIC + seq.to_bytes(8, "little") + len(payload).to_bytes(4, "little")
    crc = zlib.crc32(head + payload) & 0xFFFFFFFF
    raw = head + crc.to_bytes(4, "little") + payload
    if ext is not None:
        if isinstance(ext, str):
            ext = ext.encode()
        xhead = EXT_MAGIC + len(ext).to_bytes(4, "little")
        xcrc = zlib.crc32(seq.to_bytes(8, "little") + xhead + ext) & 0xFFFFFFFF
        raw += xhead + xcrc.to_bytes(4, "little") + ext
        assert len(raw) <= SLOT_SIZE
    return raw + b"\0" * (SLOT_SIZE - len(raw))


def encode_state_file(slot0, slot1=None):
    """A whole state file: each argument a (seq, payload) pair, raw slot bytes, or None
    (a slot of zeros)."""
    out = b""
    for s in (slot0, slot1):
        if s is None:
            out += b"\0" * SLOT_SIZE
        elif isinstance(s, tuple):
            out += encode_slot(*s)
        else:
            assert len(s) == SLOT_SIZE
            out += s
    return out


def state_slots(data):
    """[Slot or None, Slot or None] of a SLOT_FILE_SIZE image; StateFormatError otherwise."""
    if len(data) != SLOT_FILE_SIZE:
        raise StateFormatError("state file of %d bytes, not %d" % (len(data), SLOT_FILE_SIZE))
    return [decode_slot(data[:SLOT_SIZE]), decode_slot(data[SLOT_SIZE:])]


def current_slot(data):
    """(index, Slot) a reader takes from a two-slot image; StateFormatError when none."""
    slots = state_slots(data)
    valid = [(i, s) for i, s in enumerate(slots) if s is not None]
    if not valid:
        raise StateFormatError("no valid slot")
    if len(valid) == 2 and valid[0][1].seq == valid[1][1].seq:
        raise StateFormatError("both slots carry sequence number %d" % valid[0][1].seq)
    return max(valid, key=lambda v: v[1].seq)


def decode_state(data, legacy=True):
    """The state text a reader gets from a state file's bytes (str).  legacy: also accept
    the 0.1.0 text file (another size, no NUL byte), as the module does."""
    if len(data) == SLOT_FILE_SIZE:
        return current_slot(data)[1].payload.decode("ascii")
    if legacy and b"\0" not in data:
        return data.decode("ascii")
    raise StateFormatError("not a state file (%d bytes%s)" % (
        len(data), ", NUL bytes" if b"\0" in data else ""))


def read_state(path, legacy=True):
    """decode_state() of the file at path."""
    with open(path, "rb") as f:
        return decode_state(f.read(), legacy)


def state_fields(text):
    """{key: value} of a state text (complete or not: see state_complete)."""
    return dict(re.findall(r"(?m)^(\w+) = (\S+)$", text))


def state_complete(text):
    return text.startswith("# pam_mailotp") and text.endswith("\nend\n")


# -- the last-logins log: an independent reader ----------------------------------------
# Version 2: "# pam_mailotp last logins", "version = 2", "keep = N", then one
# "login = TIME RESULT METHOD SERVICE RHOST REASON" line per event, no "end" line; a last
# line without a newline and lines that do not parse are skipped; the newest N count.
# Version 1 (0.1.0): "version = 1", the login lines, "end"; every line must parse.
LOGIN_RE = re.compile(r"^login = ([0-9]+) (success|failure) (\S+) (\S+) (\S+) (\S+)$")


# -- the user file (0.3.0): record + state in one two-slot file ---------------------
# DIR/users/KEY is a two-slot file as above whose payload is the record's text (up to
# and including its first line "end") followed by the state's text, or by nothing while
# the enrollment is pending.  Stores of 0.2.0 had DIR/records/KEY (text) and
# DIR/state/KEY (two slots); the first write under the user's lock moves the user into
# users/KEY, replaces records/KEY by MOVED_RECORD and removes state/KEY.
MOVED_RECORD = (b"# pam_mailotp: this user's record moved to users/ (pam_mailotp 0.3.0 or "
                b"later)\nversion = 2\nend\n")


def split_user(payload):
    """(record text, state text) of a user file's payload (str); state "" when none."""
    m = re.search(r"(?m)^end\n", payload)
    if m is None:
        raise StateFormatError("no record in the payload")
    return payload[:m.end()], payload[m.end():]


def decode_user(data):
    """(record text, state text) a reader gets from a user file's bytes."""
    return split_user(current_slot(data)[1].payload.decode("ascii"))


def encode_user_file(record, state="", seq=1):
    """A whole user file: slot 0 holds record + state (str or bytes) at seq, slot 1 zeros."""
    if isinstance(record, str):
        record = record.encode("ascii")
    if isinstance(state, str):
        state = state.encode("ascii")
    return encode_state_file((seq, record + state))


def pending_entries(data):
    """The last-logins entries pending in a user file's current slot (its extension, a log
    in the file format), oldest first; [] when there are none or they do not parse."""
    try:
        ext = current_slot(data)[1].ext
        return [] if ext is None else decode_lastlog(ext).entries
    except StateFormatError:
        return []


def merged_entries(log_entries, pending):
    """What `mailotp last` shows, oldest first, before trimming to keep: the log's entries
    and the pending ones by time; within one second the pending ones first."""
    tagged = [(int(l.split()[2]), 1, l) for l in log_entries] + \
        [(int(l.split()[2]), 0, l) for l in pending]
    return [l for _, _, l in sorted(tagged, key=lambda t: (t[0], t[1]))]


def user_path(store, user):
    return os.path.join(store, "users", user)


def read_user(store, user):
    """(record text, state text) of store/users/USER."""
    with open(user_path(store, user), "rb") as f:
        return decode_user(f.read())


def write_user(store, user, record=None, state=None):
    """Replace the record and/or the state text of store/users/USER the way a writer does:
    the older slot gets the next sequence number (the file keeps its inode).  record or
    state None: kept as it is."""
    path = user_path(store, user)
    with open(path, "rb") as f:
        data = f.read()
    idx, cur = current_slot(data)
    old_rec, old_state = split_user(cur.payload.decode("ascii"))
    rec = old_rec if record is None else record
    st = old_state if state is None else state
    if isinstance(rec, str):
        rec = rec.encode("ascii")
    if isinstance(st, str):
        st = st.encode("ascii")
    slot = encode_slot(cur.seq + 1, rec + st)
    with open(path, "r+b") as f:
        f.seek((1 - idx) * SLOT_SIZE)
        f.write(slot)


def make_legacy(store, user):
    """Turn store/users/USER into the 0.2.0 layout: records/USER (text) and state/USER
    (two slots, when there is a state), as 0.2.0 left them; users/USER is removed."""
    rec, st = read_user(store, user)
    for sub in ("records", "state"):
        os.makedirs(os.path.join(store, sub), mode=0o700, exist_ok=True)
    with open(os.path.join(store, "records", user), "w") as f:
        f.write(rec)
    os.chmod(os.path.join(store, "records", user), 0o600)
    if st:
        with open(os.path.join(store, "state", user), "wb") as f:
            f.write(encode_state_file((1, st.encode("ascii"))))
        os.chmod(os.path.join(store, "state", user), 0o600)
    os.unlink(user_path(store, user))


class LastLog:
    """What a reader gets from a last-logins log: version, keep, entries (the newest keep by
    time, oldest first), the complete valid lines (all of them, in file order), and how many
    were skipped."""

    def __init__(self, version, keep, lines, skipped):
        self.version, self.keep, self.lines, self.skipped = version, keep, lines, skipped
        # the newest `keep` by time (0.3.2), lines of the same second in file order
        by_time = sorted(lines, key=lambda l: int(l.split()[2]))
        self.entries = by_time[-keep:] if keep else list(lines)

    def __repr__(self):
        return "LastLog(v%d keep=%s, %d lines, %d skipped)" % (
            self.version, self.keep, len(self.lines), self.skipped)


def decode_lastlog(data):
    """A LastLog for a log's bytes; StateFormatError when it has no valid header (or is
    a broken version 1 file): the module then starts the log afresh."""
    if b"\0" in data:
        raise StateFormatError("NUL byte in the last-logins log")
    text = data.decode("latin-1")
    parts = text.split("\n")
    complete, tail = parts[:-1], parts[-1]  # tail: a last line without newline ("" if none)
    header = []
    body = []
    for i, line in enumerate(complete):
        s = line.strip()
        if len(header) < 2:
            if not s or s.startswith("#"):
                continue
            header.append(s)
            if len(header) == 1:
                m = re.fullmatch(r"version\s*=\s*([0-9]+)", s)
                if not m or m.group(1) not in ("1", "2"):
                    raise StateFormatError("no version line")
                if m.group(1) == "1":
                    return _decode_lastlog_v1(complete[i + 1:], tail)
            else:
                m = re.fullmatch(r"keep\s*=\s*([0-9]+)", s)
                if not m or not 1 <= int(m.group(1)) <= 200:
                    raise StateFormatError("no keep line")
                keep = int(m.group(1))
            continue
        body.append(line)
    if len(header) < 2:
        raise StateFormatError("no valid header")
    lines, skipped = [], 0
    for line in body:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if LOGIN_RE.match(line):
            lines.append(line)
        else:
            skipped += 1
    if tail:
        skipped += 1
    return LastLog(2, keep, lines, skipped)


def _decode_lastlog_v1(rest, tail):
    if tail or not rest or rest[-1].strip() != "end":
        raise StateFormatError("version 1 log without its end line")
    lines = []
    for line in rest[:-1]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not LOGIN_RE.match(line):
            raise StateFormatError("version 1 log with a bad line")
        lines.append(line)
    return LastLog(1, None, lines, 0)


def next_second():
    """Sleep into the next second of the clock.  Last-logins entries carry seconds: within
    one, entries kept with the state (code logins) are shown before those written straight
    to the log (no code, replays, application passwords), whatever their real order."""
    t = time.time()
    time.sleep(int(t) + 1 - t + 0.01)


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

    # -- the user file ---------------------------------------------------
    def user_file(self, user):
        return user_path(self.store, user)

    def record_text(self, user):
        return read_user(self.store, user)[0]

    def state_text(self, user):
        return read_user(self.store, user)[1]

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


class LegacyUserTest(WorldTest):
    """alice enabled with PASSWORD through the CLI, then turned into the 0.2.0 layout
    (make_legacy); self.rec and self.state are her record and state texts, self.records,
    self.state_path and self.user the paths of records/alice, state/alice and
    users/alice."""
    PASSWORD = "T9D3K!px"

    def setUp(self):
        super().setUp()
        self.step = self.w.enable("alice", self.PASSWORD)
        self.svc = self.w.simple_service("alice")
        self.rec, self.state = read_user(self.w.store, "alice")
        make_legacy(self.w.store, "alice")
        self.records = os.path.join(self.w.store, "records", "alice")
        self.state_path = os.path.join(self.w.store, "state", "alice")
        self.user = self.w.user_file("alice")

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()
