# SPDX-License-Identifier: GPL-2.0-or-later
"""`mailotp --json`: the stable schema a User Panel relies on (see JSON OUTPUT in mailotp(1)).

Every verb's object is checked for its exact key set and the type of every
value; every error is checked to be exactly {"error": string, "code": string}
on stdout with the documented exit code.  Logins go through the real module in
a real libpam stack (pamauth), and codes come from oathtool, never from the
code under test.
"""
import base64
import calendar
import fcntl
import json
import os
import re
import stat
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET

import mailotp_testlib as tl
from mailotp_testlib import CLI, WRAPPER, WorldTest, check_wrapper, oathtool_code

PW = "T9D3K!px"
RHOST = "192.0.2.7"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"
ALPHABET = "abcdefghijkmnpqrstuvwxyz"
APP_PW_RE = re.compile(r"^[%s]{4}(?:-[%s]{4}){4}$" % (ALPHABET, ALPHABET))
RECOVERY_RE = re.compile(r"^[%s]{5}-[%s]{5}$" % (ALPHABET, ALPHABET))
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TEXT_TIME_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"

# Exit codes (mailotp(1), EXIT STATUS).
DONE, REFUSED, USAGE, STATE, STORE = 0, 1, 2, 3, 4


# -- value types of the schema ------------------------------------------------
def STR(v):
    return isinstance(v, str)


def INT(v):
    return isinstance(v, int) and not isinstance(v, bool)


def BOOL(v):
    return isinstance(v, bool)


def TIME(v):
    return isinstance(v, str) and ISO_RE.match(v) is not None


def TIME_OR_NULL(v):
    return v is None or TIME(v)


def STR_OR_NULL(v):
    return v is None or STR(v)


def STR_LIST(v):
    return isinstance(v, list) and all(STR(x) for x in v)


def OBJ(v):
    return isinstance(v, dict)


def LIST(v):
    return isinstance(v, list)


def INT_OR_NULL(v):
    return v is None or INT(v)


ENROLL = {"user": STR, "status": STR, "was_enabled": BOOL, "issuer": STR, "secret": STR,
          "digits": INT, "period": INT, "uri": STR, "qr": lambda v: v is None or OBJ(v)}
CONFIRM = {"user": STR, "status": STR, "enabled": TIME}
DISABLE = {"user": STR, "status": STR}
STATUS = {"user": STR, "status": STR, "created": TIME_OR_NULL, "enabled": TIME_OR_NULL,
          "state": STR_OR_NULL, "failures": INT, "locked": BOOL, "locked_until": TIME_OR_NULL,
          "last_success": TIME_OR_NULL, "last_failure": TIME_OR_NULL, "app_passwords": INT,
          "recovery_codes_left": INT_OR_NULL}
UNLOCK = {"user": STR, "failures": INT, "state_rebuilt": BOOL}
APP_ADD = {"user": STR, "name": STR, "services": STR_LIST, "created": TIME,
           "expires": TIME_OR_NULL, "password": STR}
APP_LIST = {"user": STR, "app_passwords": LIST}
APP_ENTRY = {"name": STR, "services": STR_LIST, "created": TIME, "expires": TIME_OR_NULL,
             "expired": BOOL, "last_used": TIME_OR_NULL, "last_service": STR_OR_NULL,
             "last_rhost": STR_OR_NULL}
APP_REVOKE = {"user": STR, "name": STR, "revoked": BOOL}
RECOVERY = {"user": STR, "created": TIME, "codes": STR_LIST}
LAST = {"user": STR, "logins": LIST, "skipped": INT}
LAST_ENTRY = {"time": TIME, "result": STR, "method": STR_OR_NULL, "service": STR_OR_NULL,
              "rhost": STR_OR_NULL, "reason": STR}
ERROR = {"error": STR, "code": STR}


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise AssertionError("duplicate keys in a JSON object: %r" % keys)
    return dict(pairs)


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def wrong(code):
    """A code that is not `code` (wrong with probability 1 - 3e-6 for a window of 1)."""
    return "%06d" % ((int(code) + 500001) % 1000000)


class JsonTest(WorldTest):
    # -- running the CLI ----------------------------------------------------
    def run_raw(self, *args):
        """The CLI without the world's --dir/--conf (for errors about those)."""
        cmd = WRAPPER + [CLI] + list(args)
        res = subprocess.run(cmd, capture_output=True, text=True)
        check_wrapper(cmd, res)
        return res

    def parse(self, res):
        """stdout must be exactly one line holding one JSON object; stderr carries no message."""
        self.assertTrue(res.stdout.endswith("\n"), repr(res.stdout[-200:]))
        self.assertEqual(res.stdout.count("\n"), 1, "more than one line: %r" % res.stdout[:400])
        self.assertNotIn("mailotp:", res.stderr)
        self.assertNotIn("usage:", res.stderr)
        obj = json.loads(res.stdout, object_pairs_hook=no_duplicate_keys)
        self.assertIsInstance(obj, dict)
        return obj

    def j(self, *args, check=DONE):
        return self.parse(self.w.cli("--json", *args, check=check))

    def assertSchema(self, obj, schema):
        self.assertEqual(set(obj), set(schema), "keys of %r" % obj)
        for k, ok in schema.items():
            self.assertTrue(ok(obj[k]), "%s has a wrong type or form: %r" % (k, obj[k]))

    def assertError(self, res, code, exit_code):
        self.assertEqual(res.returncode, exit_code,
                         "exit %d, want %d: %s %s" % (res.returncode, exit_code, res.stdout,
                                                      res.stderr))
        obj = self.parse(res)
        self.assertSchema(obj, ERROR)
        self.assertEqual(obj["code"], code, obj)
        self.assertTrue(obj["error"])
        return obj

    def jerr(self, code, exit_code, *args):
        return self.assertError(self.w.cli("--json", *args), code, exit_code)

    # -- setting up users ----------------------------------------------------
    def enroll_json(self, user, *extra):
        obj = self.j("enroll", user, *extra)
        self.assertSchema(obj, ENROLL)
        self.w.secrets[user.lower()] = obj["secret"]
        return obj

    def enable(self, user="alice"):
        """Enroll and confirm through --json; returns the step the confirmation used."""
        obj = self.enroll_json(user, "--qr", "none")
        now = int(time.time())
        self.j("confirm", user, oathtool_code(obj["secret"], now))
        self.w.set_password(user, PW)
        return now // 30

    def status(self, user="alice"):
        obj = self.j("status", user)
        self.assertSchema(obj, STATUS)
        return obj

    def app_add(self, user, name, *extra):
        obj = self.j("app-password", "add", user, name, *extra)
        self.assertSchema(obj, APP_ADD)
        return obj

    def app_list(self, user="alice"):
        obj = self.j("app-password", "list", user)
        self.assertSchema(obj, APP_LIST)
        for e in obj["app_passwords"]:
            self.assertSchema(e, APP_ENTRY)
        return {e["name"]: e for e in obj["app_passwords"]}

    def last(self, user="alice"):
        obj = self.j("last", user)
        self.assertSchema(obj, LAST)
        self.assertEqual(obj["user"], user)
        for e in obj["logins"]:
            self.assertSchema(e, LAST_ENTRY)
            self.assertIn(e["result"], ("success", "failure"))
        return obj["logins"]

    def svc(self, user="alice", extra="", name=None):
        return self.w.simple_service(user, extra=extra, name=name)


# =============================================================================
class Enroll(JsonTest):
    def check_common(self, obj, user="alice"):
        self.assertEqual(obj["user"], user)
        self.assertEqual(obj["status"], "pending")
        self.assertFalse(obj["was_enabled"])
        self.assertRegex(obj["secret"], r"^[A-Z2-7]{32}$")
        self.assertEqual(obj["digits"], 6)
        self.assertEqual(obj["period"], 30)
        u = urllib.parse.urlparse(obj["uri"])
        self.assertEqual((u.scheme, u.netloc), ("otpauth", "totp"))
        q = urllib.parse.parse_qs(u.query)
        self.assertEqual(q["secret"], [obj["secret"]])
        self.assertEqual(q["issuer"], [obj["issuer"]])
        self.assertEqual(urllib.parse.unquote(u.path), "/%s:%s" % (obj["issuer"], user))

    def test_qr_none(self):
        obj = self.enroll_json("alice", "--qr", "none")
        self.check_common(obj)
        self.assertIsNone(obj["qr"])
        self.assertEqual(self.status()["status"], "pending")

    def test_no_qr_and_json_without_qr_option_give_null(self):
        self.assertIsNone(self.enroll_json("alice", "--no-qr")["qr"])
        # With --json and no --qr nothing is drawn: a panel asks for the format it wants.
        self.assertIsNone(self.enroll_json("alice")["qr"])

    def test_qr_svg_embedded(self):
        obj = self.enroll_json("alice", "--qr", "svg")
        self.check_common(obj)
        self.assertEqual(set(obj["qr"]), {"format", "data"})
        self.assertEqual(obj["qr"]["format"], "svg")
        root = ET.fromstring(obj["qr"]["data"].encode("utf-8"))
        self.assertEqual(root.tag, SVG_NS + "svg")
        self.assertNotIn(obj["secret"], obj["qr"]["data"])  # the image, not the text

    def test_qr_png_embedded_base64(self):
        obj = self.enroll_json("alice", "--qr", "png")
        self.check_common(obj)
        self.assertEqual(set(obj["qr"]), {"format", "base64"})
        self.assertEqual(obj["qr"]["format"], "png")
        self.assertRegex(obj["qr"]["base64"], r"^[A-Za-z0-9+/]+={0,2}$")
        png = base64.b64decode(obj["qr"]["base64"], validate=True)
        self.assertEqual(png[:8], PNG_MAGIC)
        self.assertEqual(png[12:16], b"IHDR")
        self.assertEqual(png[-8:-4], b"IEND")

    def test_qr_terminal_embedded(self):
        obj = self.enroll_json("alice", "--qr", "terminal")
        self.assertEqual(set(obj["qr"]), {"format", "data"})
        self.assertEqual(obj["qr"]["format"], "terminal")
        self.assertIn("\u2588", obj["qr"]["data"])
        self.assertIn("\n", obj["qr"]["data"])

    def test_qr_png_to_file(self):
        path = os.path.join(self.w.root, "alice.png")
        obj = self.enroll_json("alice", "--qr", "png:" + path)
        self.check_common(obj)
        self.assertEqual(obj["qr"], {"format": "png", "file": path})
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_qr_svg_to_file(self):
        path = os.path.join(self.w.root, "alice.svg")
        obj = self.enroll_json("alice", "--qr", "svg:" + path)
        self.assertEqual(obj["qr"], {"format": "svg", "file": path})
        self.assertEqual(ET.parse(path).getroot().tag, SVG_NS + "svg")

    def test_qr_file_that_already_exists_is_made_private(self):
        # The image holds the TOTP secret: whatever was at the path before, the file must end
        # up readable by its owner only.
        path = os.path.join(self.w.root, "old.png")
        with open(path, "wb") as f:
            f.write(b"old")
        os.chmod(path, 0o644)
        self.enroll_json("alice", "--qr", "png:" + path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode) & 0o077, 0,
                         "the QR image with the secret is group/world readable")

    def test_unwritable_qr_file_changes_nothing(self):
        # An error answer must mean nothing happened: the panel never saw the new secret.
        bad = os.path.join(self.w.root, "no-such-dir", "x.png")
        self.jerr("qr-file", USAGE, "enroll", "bob", "--qr", "png:" + bad)
        self.assertEqual(self.status("bob")["status"], "disabled")
        self.enable()
        self.jerr("qr-file", USAGE, "enroll", "alice", "--force", "--qr", "png:" + bad)
        self.assertEqual(self.status()["status"], "enabled",
                         "a failed enroll --force turned 2FA off")

    def test_qr_file_symlink_refused(self):
        link = os.path.join(self.w.root, "link.png")
        os.symlink(os.path.join(self.w.root, "target.png"), link)
        self.jerr("qr-file", USAGE, "enroll", "alice", "--qr", "png:" + link)
        self.assertFalse(os.path.exists(os.path.join(self.w.root, "target.png")))

    def test_secret_from_json_confirms(self):
        obj = self.enroll_json("alice", "--qr", "none")
        self.j("confirm", "alice", oathtool_code(obj["secret"], int(time.time())))
        self.assertEqual(self.status()["status"], "enabled")

    def test_issuer_and_user_escaped(self):
        with open(self.w.conf, "w") as f:
            f.write("issuer = Example Mail\n")
        obj = self.enroll_json("Bob.Smith@Example.com", "--qr", "none")
        self.check_common(obj, "Bob.Smith@Example.com")
        self.assertEqual(obj["issuer"], "Example Mail")
        self.assertIn("otpauth://totp/Example%20Mail:Bob.Smith%40Example.com?", obj["uri"])

    def test_force_on_enabled_user_reports_was_enabled(self):
        self.enable()
        self.jerr("already-enabled", STATE, "enroll", "alice", "--qr", "none")
        obj = self.enroll_json("alice", "--qr", "none", "--force")
        self.assertTrue(obj["was_enabled"])
        self.assertEqual(obj["status"], "pending")
        self.assertEqual(self.status()["status"], "pending")

    def test_bad_qr_format(self):
        for spec in ("bogus", "PNG", "svg2:x", "gif"):
            with self.subTest(spec=spec):
                self.jerr("usage", USAGE, "enroll", "dave", "--qr", spec)
        self.assertEqual(self.status("dave")["status"], "disabled")


class TextEnroll(JsonTest):
    def test_text_image_without_file_goes_alone_to_stdout(self):
        # Text mode, --qr svg: the document on stdout, the URI on stderr.
        res = self.w.cli("enroll", "alice", "--qr", "svg", check=0)
        root = ET.fromstring(res.stdout.encode("utf-8"))
        self.assertEqual(root.tag, SVG_NS + "svg")
        self.assertRegex(res.stderr.strip(), r"^otpauth://totp/\S+$")


# =============================================================================
class Confirm(JsonTest):
    def test_confirm(self):
        obj = self.enroll_json("alice", "--qr", "none")
        before = int(time.time())
        res = self.j("confirm", "alice", oathtool_code(obj["secret"], int(time.time())))
        self.assertSchema(res, CONFIRM)
        self.assertEqual(res["user"], "alice")
        self.assertEqual(res["status"], "enabled")
        self.assertLessEqual(abs(epoch(res["enabled"]) - before), 5)

    def test_confirm_errors(self):
        self.jerr("not-enrolled", STATE, "confirm", "alice", "123456")
        obj = self.enroll_json("alice", "--qr", "none")
        good = oathtool_code(obj["secret"], int(time.time()))
        self.jerr("wrong-code", REFUSED, "confirm", "alice", wrong(good))
        self.jerr("bad-code-format", USAGE, "confirm", "alice", "12345")
        self.jerr("bad-code-format", USAGE, "confirm", "alice", "abcdef")
        self.assertEqual(self.status()["status"], "pending")
        self.j("confirm", "alice", good)
        self.jerr("already-enabled", STATE, "confirm", "alice", good)


# =============================================================================
class Disable(JsonTest):
    def test_disable_with_code(self):
        step = self.enable()
        obj = self.j("disable", "alice", self.w.code("alice", step + 1))
        self.assertSchema(obj, DISABLE)
        self.assertEqual(obj, {"user": "alice", "status": "disabled"})
        self.assertEqual(self.status()["status"], "disabled")

    def test_disable_force(self):
        self.enable()
        obj = self.j("disable", "--force", "alice")
        self.assertEqual(obj, {"user": "alice", "status": "disabled"})

    def test_disable_pending_without_code(self):
        self.enroll_json("alice", "--qr", "none")
        self.assertEqual(self.j("disable", "alice"), {"user": "alice", "status": "disabled"})

    def test_disable_errors(self):
        self.jerr("not-enrolled", STATE, "disable", "alice", "123456")
        self.jerr("not-enrolled", STATE, "disable", "--force", "alice")
        step = self.enable()
        self.jerr("code-required", USAGE, "disable", "alice")
        self.jerr("bad-code-format", USAGE, "disable", "alice", "1234")
        good = self.w.code("alice", step + 1)
        self.jerr("wrong-code", REFUSED, "disable", "alice", wrong(good))
        self.assertEqual(self.status()["failures"], 1)
        # A code already used for a real login is a replay.
        self.assertEqual(self.w.login(self.svc(), "alice", PW + good), "PAM_SUCCESS")
        self.jerr("replayed-code", REFUSED, "disable", "alice", good)
        self.assertEqual(self.status()["status"], "enabled")

    def test_disable_with_missing_state(self):
        step = self.enable()
        tl.write_user(self.w.store, "alice", state="")  # the record alone, no state part
        self.jerr("wrong-state", STATE, "disable", "alice", self.w.code("alice", step + 1))
        self.assertEqual(self.w.state_text("alice"), "")


# =============================================================================
class Status(JsonTest):
    def test_disabled(self):
        obj = self.status("nobody")
        self.assertEqual(obj, {"user": "nobody", "status": "disabled", "created": None,
                               "enabled": None, "state": None, "failures": 0, "locked": False,
                               "locked_until": None, "last_success": None, "last_failure": None,
                               "app_passwords": 0, "recovery_codes_left": None})

    def test_user_shown_as_typed(self):
        self.enable()
        obj = self.status("Alice")
        self.assertEqual(obj["user"], "Alice")
        self.assertEqual(obj["status"], "enabled")

    def test_pending(self):
        self.enroll_json("alice", "--qr", "none")
        obj = self.status()
        self.assertEqual(obj["status"], "pending")
        self.assertTrue(TIME(obj["created"]))
        self.assertIsNone(obj["enabled"])
        self.assertIsNone(obj["state"])
        self.assertFalse(obj["locked"])

    def test_enabled(self):
        self.enable()
        obj = self.status()
        self.assertEqual(obj["status"], "enabled")
        self.assertTrue(TIME(obj["created"]))
        self.assertTrue(TIME(obj["enabled"]))
        self.assertEqual(obj["state"], "ok")
        self.assertEqual(obj["failures"], 0)
        self.assertFalse(obj["locked"])
        self.assertIsNone(obj["locked_until"])
        self.assertTrue(TIME(obj["last_success"]))  # the confirmation
        self.assertIsNone(obj["last_failure"])
        self.assertEqual(obj["app_passwords"], 0)
        self.assertIsNone(obj["recovery_codes_left"])

    def test_state_missing(self):
        self.enable()
        tl.write_user(self.w.store, "alice", state="")
        obj = self.status()
        self.assertEqual(obj["status"], "enabled")
        self.assertEqual(obj["state"], "missing")
        self.assertEqual(obj["failures"], 0)
        self.assertFalse(obj["locked"])
        self.assertIsNone(obj["last_success"])

    def test_counts_app_passwords_and_recovery_codes(self):
        self.enable()
        self.app_add("alice", "phone")
        self.app_add("alice", "tablet")
        self.j("recovery-codes", "alice")
        obj = self.status()
        self.assertEqual(obj["app_passwords"], 2)
        self.assertEqual(obj["recovery_codes_left"], 10)
        self.j("app-password", "revoke", "alice", "tablet")
        self.assertEqual(self.status()["app_passwords"], 1)

    def test_app_passwords_of_user_without_2fa_are_counted(self):
        self.app_add("bob", "phone")
        obj = self.status("bob")
        self.assertEqual(obj["status"], "disabled")
        self.assertEqual(obj["app_passwords"], 1)

    def test_corrupt_record_is_a_store_error(self):
        self.enable()
        tl.write_user(self.w.store, "alice", record="junk\nend\n")
        self.jerr("corrupt-data", STORE, "status", "alice")

    def test_unsafe_record_is_a_store_error(self):
        self.enable()
        os.chmod(self.w.user_file("alice"), 0o644)
        self.jerr("unsafe-file", STORE, "status", "alice")


class Locked(JsonTest):
    conf_text = "lockout_after = 0\nlockout_delay = 600\nlockout_max = 600\n"

    def test_locked_status_errors_and_unlock(self):
        step = self.enable()
        good = self.w.code("alice", step + 1)
        t0 = int(time.time())
        self.jerr("wrong-code", REFUSED, "disable", "alice", wrong(good))
        obj = self.status()
        self.assertTrue(obj["locked"])
        self.assertEqual(obj["failures"], 1)
        self.assertTrue(TIME(obj["last_failure"]))
        self.assertTrue(TIME(obj["locked_until"]))
        self.assertLessEqual(abs(epoch(obj["locked_until"]) - (t0 + 600)), 5)
        self.jerr("locked-out", REFUSED, "disable", "alice", good)
        self.assertEqual(self.w.login(self.svc(), "alice", PW + good), "PAM_MAXTRIES")
        self.assertEqual(self.last()[0]["reason"], "locked-out")
        obj = self.j("unlock", "alice")
        self.assertSchema(obj, UNLOCK)
        self.assertEqual(obj, {"user": "alice", "failures": 0, "state_rebuilt": False})
        obj = self.status()
        self.assertFalse(obj["locked"])
        self.assertIsNone(obj["locked_until"])
        self.assertEqual(obj["failures"], 0)
        self.assertEqual(self.w.login(self.svc(), "alice", PW + good), "PAM_SUCCESS")


# =============================================================================
class Unlock(JsonTest):
    def test_unlock_rebuilds_missing_state(self):
        self.enable()
        rec = self.w.record_text("alice")
        tl.write_user(self.w.store, "alice", state="")
        obj = self.j("unlock", "alice")
        self.assertEqual(obj, {"user": "alice", "failures": 0, "state_rebuilt": True})
        self.assertEqual(self.status()["state"], "ok")
        self.assertEqual(self.w.record_text("alice"), rec)
        self.assertTrue(tl.state_complete(self.w.state_text("alice")))

    def test_unlock_not_enrolled(self):
        self.jerr("not-enrolled", STATE, "unlock", "alice")


# =============================================================================
class AppPasswords(JsonTest):
    def test_add_schema_and_password_format(self):
        before = int(time.time())
        obj = self.app_add("alice", "phone")
        self.assertEqual(obj["user"], "alice")
        self.assertEqual(obj["name"], "phone")
        self.assertEqual(obj["services"], ["*"])
        self.assertIsNone(obj["expires"])
        self.assertLessEqual(abs(epoch(obj["created"]) - before), 5)
        self.assertRegex(obj["password"], APP_PW_RE)
        self.assertEqual(len(obj["password"].replace("-", "")), 20)  # 20 * log2(24) > 91 bits

    def test_passwords_differ_and_are_never_stored(self):
        seen = set()
        for i in range(8):
            seen.add(self.app_add("alice", "d%d" % i)["password"])
        self.assertEqual(len(seen), 8)
        blob = b""
        for dirpath, _, files in os.walk(self.w.store):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    blob += f.read()
        for pw in seen:
            self.assertNotIn(pw.encode(), blob)
            self.assertNotIn(pw.replace("-", "").encode(), blob)

    def test_services_and_expires(self):
        before = int(time.time())
        obj = self.app_add("alice", "sync", "--services", "IMAP,smtp,sieve", "--expires", "30")
        self.assertEqual(obj["services"], ["imap", "smtp", "sieve"])
        self.assertLessEqual(abs(epoch(obj["expires"]) - (before + 30 * 86400)), 5)
        self.assertEqual(epoch(obj["expires"]) - epoch(obj["created"]), 30 * 86400)
        self.assertEqual(self.app_add("alice", "all", "--services", "*")["services"], ["*"])
        self.assertEqual(self.app_add("alice", "long", "--expires", "3650")["name"], "long")

    def test_list(self):
        self.assertEqual(self.app_list(), {})
        self.app_add("alice", "phone")
        self.app_add("alice", "sync", "--services", "imap", "--expires", "7")
        lst = self.app_list()
        self.assertEqual(list(lst), ["phone", "sync"])
        self.assertEqual(lst["phone"]["services"], ["*"])
        self.assertIsNone(lst["phone"]["expires"])
        self.assertFalse(lst["phone"]["expired"])
        self.assertEqual(lst["sync"]["services"], ["imap"])
        self.assertTrue(TIME(lst["sync"]["expires"]))
        self.assertFalse(lst["sync"]["expired"])
        for e in lst.values():
            self.assertIsNone(e["last_used"])
            self.assertIsNone(e["last_service"])
            self.assertIsNone(e["last_rhost"])
            self.assertNotIn("password", e)

    def test_last_use_after_a_real_login(self):
        self.enable()
        pw = self.app_add("alice", "phone")["password"]
        svc = self.svc()
        before = int(time.time())
        self.assertEqual(self.w.login(svc, "alice", pw, rhost="198.51.100.4"), "PAM_SUCCESS")
        # An app password ends the stack: the password module never ran.
        self.assertEqual(self.w.expect_calls(), [])
        e = self.app_list()["phone"]
        self.assertTrue(TIME(e["last_used"]))
        self.assertLessEqual(abs(epoch(e["last_used"]) - before), 5)
        self.assertEqual(e["last_service"], svc)
        self.assertEqual(e["last_rhost"], "198.51.100.4")

    def test_unknown_rhost_is_null_as_in_last(self):
        # `last` gives null for a login without PAM_RHOST; the list must say the same.
        pw = self.app_add("alice", "phone")["password"]
        self.w.set_password("alice", "plain")
        self.assertEqual(self.w.login(self.svc(), "alice", pw, rhost=None), "PAM_SUCCESS")
        self.assertIsNone(self.last()[0]["rhost"])
        e = self.app_list()["phone"]
        self.assertTrue(TIME(e["last_used"]))
        self.assertIsNone(e["last_rhost"], "unknown rhost shown as %r" % e["last_rhost"])

    def test_app_password_of_user_without_2fa(self):
        pw = self.app_add("bob", "phone")["password"]
        self.w.set_password("bob", "plain")
        svc = self.svc("bob")
        self.assertEqual(self.w.login(svc, "bob", pw), "PAM_SUCCESS")
        self.assertEqual(self.app_list("bob")["phone"]["last_service"], svc)
        self.assertEqual(self.w.login(svc, "bob", "plain"), "PAM_SUCCESS")

    def test_expired_flag(self):
        self.enable()
        pw = self.app_add("alice", "old", "--expires", "1")["password"]
        # Move the expiry into the past in the stored file (format: apppw.h).
        path = os.path.join(self.w.store, "apppw", "alice")
        with open(path) as f:
            text = f.read()
        text2 = re.sub(r"^(app = old \S+ \d+) \d+ ", r"\1 1000000000 ", text, flags=re.M)
        self.assertNotEqual(text, text2)
        with open(path, "w") as f:  # same inode: mode 0600 and one link stay
            f.write(text2)
        e = self.app_list()["old"]
        self.assertTrue(e["expired"])
        self.assertEqual(e["expires"], "2001-09-09T01:46:40Z")
        self.assertEqual(self.w.login(self.svc(), "alice", pw), "PAM_AUTH_ERR")
        ev = self.last()[0]
        self.assertEqual((ev["result"], ev["method"], ev["reason"]),
                         ("failure", "app-password:old", "app-password-expired"))
        self.assertIsNone(self.app_list()["old"]["last_used"])

    def test_revoke(self):
        self.enable()
        pw = self.app_add("alice", "phone")["password"]
        svc = self.svc()
        self.assertEqual(self.w.login(svc, "alice", pw), "PAM_SUCCESS")
        obj = self.j("app-password", "revoke", "alice", "phone")
        self.assertSchema(obj, APP_REVOKE)
        self.assertEqual(obj, {"user": "alice", "name": "phone", "revoked": True})
        self.assertEqual(self.app_list(), {})
        self.assertEqual(self.w.login(svc, "alice", pw), "PAM_AUTH_ERR")
        self.jerr("no-such-name", STATE, "app-password", "revoke", "alice", "phone")

    def test_service_scoping_shows_in_last(self):
        self.enable()
        pw = self.app_add("alice", "imaponly", "--services", "imap")["password"]
        self.assertEqual(self.w.login(self.svc(name="smtp"), "alice", pw), "PAM_AUTH_ERR")
        ev = self.last()[0]
        self.assertEqual((ev["result"], ev["method"], ev["service"], ev["reason"]),
                         ("failure", "app-password:imaponly", "smtp", "app-password-not-allowed"))
        self.assertEqual(self.w.login(self.svc(name="imap"), "alice", pw), "PAM_SUCCESS")
        self.assertEqual(self.app_list()["imaponly"]["last_service"], "imap")

    def test_add_errors(self):
        self.app_add("alice", "phone")
        self.jerr("name-exists", STATE, "app-password", "add", "alice", "phone")
        for bad in ("im ap", "", "imap,,smtp", "imap,IMAP", ",imap", "imap/x", "x" * 33):
            with self.subTest(services=bad):
                self.jerr("bad-services", USAGE, "app-password", "add", "alice", "n", "--services",
                          bad)
        for bad in ("0", "3651", "-1", "x", "1.5", "", " 5", "0x10"):
            with self.subTest(expires=bad):
                self.jerr("bad-expires", USAGE, "app-password", "add", "alice", "n", "--expires",
                          bad)
        for bad in ("a b", "x" * 33, "-x", "ä", "a/b"):
            with self.subTest(name=bad):
                self.jerr("bad-name", USAGE, "app-password", "add", "alice", "--", bad)
        self.assertEqual(list(self.app_list()), ["phone"])

    def test_too_many(self):
        self.app_add("alice", "p0")
        # 49 more entries written straight into the file (format: apppw.h), saving 49 runs.
        path = os.path.join(self.w.store, "apppw", "alice")
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[-1], "end")
        entry = next(l for l in lines if l.startswith("app = p0 "))
        more = [entry.replace("app = p0 ", "app = p%d " % i, 1) for i in range(1, 50)]
        with open(path, "w") as f:  # same inode: mode 0600 and one link stay
            f.write("\n".join(lines[:-1] + more + ["end"]) + "\n")
        self.assertEqual(len(self.app_list()), 50)
        self.jerr("too-many", STATE, "app-password", "add", "alice", "one-more")
        self.assertEqual(self.status()["app_passwords"], 50)

    def test_no_such_name(self):
        self.jerr("no-such-name", STATE, "app-password", "revoke", "alice", "ghost")
        self.app_add("alice", "phone")
        self.jerr("no-such-name", STATE, "app-password", "revoke", "alice", "Phone")


class TextAppPasswords(JsonTest):
    def test_add_prints_password_as_last_line(self):
        res = self.w.cli("app-password", "add", "alice", "phone", "--services", "imap,smtp",
                         check=0)
        lines = res.stdout.rstrip("\n").split("\n")
        self.assertRegex(lines[-1], APP_PW_RE)
        self.assertIn('"phone"', res.stdout)
        self.assertIn("imap,smtp", res.stdout)
        # The printed password works (for a user without 2FA, too).
        self.w.set_password("alice", "plain")
        self.assertEqual(self.w.login(self.svc(name="imap"), "alice", lines[-1]), "PAM_SUCCESS")

    def test_typed_in_upper_case_or_without_dashes(self):
        pw = self.app_add("alice", "phone")["password"]
        self.w.set_password("alice", "plain")
        svc = self.svc()
        self.assertEqual(self.w.login(svc, "alice", pw.upper()), "PAM_SUCCESS")
        self.assertEqual(self.w.login(svc, "alice", pw.replace("-", "")), "PAM_SUCCESS")

    def test_list_is_readable(self):
        self.assertIn("no app passwords", self.w.cli("app-password", "list", "alice",
                                                     check=0).stdout)
        pw = self.app_add("alice", "phone")["password"]
        self.app_add("alice", "sync", "--services", "imap", "--expires", "7")
        self.w.set_password("alice", "plain")
        svc = self.svc()
        self.assertEqual(self.w.login(svc, "alice", pw), "PAM_SUCCESS")
        out = self.w.cli("app-password", "list", "alice", check=0).stdout
        self.assertNotIn(pw, out)
        self.assertRegex(out, r"(?m)^phone\n  services: all\n  created: %s\n  expires: never\n"
                              r"  last used: %s \(%s from %s\)$"
                         % (TEXT_TIME_RE, TEXT_TIME_RE, re.escape(svc), re.escape(RHOST)))
        self.assertRegex(out, r"(?m)^sync\n  services: imap\n  created: %s\n  expires: %s\n"
                              r"  last used: never$" % (TEXT_TIME_RE, TEXT_TIME_RE))


# =============================================================================
class RecoveryCodes(JsonTest):
    def test_schema_and_format(self):
        self.enable()
        before = int(time.time())
        obj = self.j("recovery-codes", "alice")
        self.assertSchema(obj, RECOVERY)
        self.assertEqual(obj["user"], "alice")
        self.assertLessEqual(abs(epoch(obj["created"]) - before), 5)
        codes = obj["codes"]
        self.assertEqual(len(codes), 10)
        self.assertEqual(len(set(codes)), 10)
        for c in codes:
            self.assertRegex(c, RECOVERY_RE)
            self.assertFalse(any(ch.isdigit() for ch in c), c)
        self.assertEqual(self.status()["recovery_codes_left"], 10)

    def test_single_use_through_a_real_login(self):
        self.enable()
        codes = self.j("recovery-codes", "alice")["codes"]
        svc = self.svc()
        self.assertEqual(self.w.login(svc, "alice", PW + codes[3]), "PAM_SUCCESS")
        self.assertEqual(self.w.expect_calls(), ["authtok=match len=%d" % len(PW)])
        self.assertEqual(self.status()["recovery_codes_left"], 9)
        ev = self.last()[0]
        self.assertEqual((ev["result"], ev["method"], ev["reason"]),
                         ("success", "recovery-code", "recovery-code-accepted"))
        # Used up: the same code again is a wrong code, counted like one.
        self.assertEqual(self.w.login(svc, "alice", PW + codes[3]), "PAM_AUTH_ERR")
        self.assertEqual(self.status()["failures"], 1)
        ev = self.last()[0]
        self.assertEqual((ev["result"], ev["method"], ev["reason"]),
                         ("failure", "recovery-code", "wrong-code"))

    def test_regenerating_replaces_all(self):
        self.enable()
        old = self.j("recovery-codes", "alice")["codes"]
        new = self.j("recovery-codes", "alice")["codes"]
        self.assertFalse(set(old) & set(new))
        self.assertEqual(self.status()["recovery_codes_left"], 10)
        self.assertEqual(self.w.login(self.svc(), "alice", PW + old[0]), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(self.svc(), "alice", PW + new[0]), "PAM_SUCCESS")

    def test_not_enrolled(self):
        self.jerr("not-enrolled", STATE, "recovery-codes", "alice")

    def test_text_output(self):
        self.enable()
        out = self.w.cli("recovery-codes", "alice", check=0).stdout
        codes = re.findall(r"(?m)^  (\S+)$", out)
        self.assertEqual(len(codes), 10)
        for c in codes:
            self.assertRegex(c, RECOVERY_RE)


# =============================================================================
class LastLogins(JsonTest):
    def test_empty(self):
        self.assertEqual(self.last(), [])
        self.assertIn("no logins recorded", self.w.cli("last", "alice", check=0).stdout)

    def test_after_real_logins_newest_first(self):
        step = self.enable()
        pw = self.app_add("alice", "phone")["password"]
        svc = self.svc()
        good = self.w.code("alice", step + 1)
        t0 = int(time.time())
        self.assertEqual(self.w.login(svc, "alice", PW + wrong(good), rhost="203.0.113.9"),
                         "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_SUCCESS")
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        self.assertEqual(self.w.login(svc, "alice", pw, rhost=None), "PAM_SUCCESS")
        t1 = int(time.time())
        logins = self.last()
        self.assertEqual(len(logins), 4)
        got = [(e["result"], e["method"], e["service"], e["rhost"], e["reason"]) for e in logins]
        self.assertEqual(got, [
            ("success", "app-password:phone", svc, None, "app-password"),
            ("failure", None, svc, RHOST, "no-code"),
            ("success", "code", svc, RHOST, "code-accepted"),
            ("failure", "code", svc, "203.0.113.9", "wrong-code"),
        ])
        times = [epoch(e["time"]) for e in logins]
        self.assertEqual(times, sorted(times, reverse=True))
        for t in times:
            self.assertTrue(t0 - 2 <= t <= t1 + 2, (t0, t, t1))

    def test_damaged_entries_skipped_and_counted(self):
        step = self.enable()
        svc = self.svc()
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", step + 1)),
                         "PAM_SUCCESS")
        # a code login's entry waits in the user file; one without a code goes to the log
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        path = os.path.join(self.w.store, "last", "alice")
        with open(path, "ab") as f:  # a line cut short by a crash, then damage
            f.write(b"login = 1700000000 success co")
        obj = self.j("last", "alice")
        self.assertSchema(obj, LAST)
        self.assertEqual(obj["skipped"], 1)
        self.assertEqual(len(obj["logins"]), 2)
        r = self.w.cli("last", "alice", check=0)
        self.assertIn("1 damaged entry of the log skipped", r.stderr)
        # the next login's entry goes on a line of its own and the log is repaired
        self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        obj = self.j("last", "alice")
        self.assertEqual(obj["skipped"], 0)
        self.assertEqual([e["reason"] for e in obj["logins"]],
                         ["no-code", "no-code", "code-accepted"])

    def test_text_form_is_readable(self):
        step = self.enable()
        svc = self.svc()
        self.assertEqual(self.w.login(svc, "alice", PW + self.w.code("alice", step + 1)),
                         "PAM_SUCCESS")
        out = self.w.cli("last", "alice", check=0).stdout.splitlines()
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r"^%s +success +%s +%s +code +code-accepted$"
                         % (TEXT_TIME_RE, re.escape(svc), re.escape(RHOST)))

    def test_users_without_2fa_and_app_passwords_are_not_recorded(self):
        self.w.set_password("bob", "plain")
        self.assertEqual(self.w.login(self.svc("bob"), "bob", "plain"), "PAM_SUCCESS")
        self.assertEqual(self.last("bob"), [])


class LastLoginsKept(JsonTest):
    module_args = "last_logins=3"

    def test_only_the_newest_n_are_kept(self):
        step = self.enable()
        svc = self.svc()
        good = self.w.code("alice", step + 1)
        for _ in range(4):
            self.assertEqual(self.w.login(svc, "alice", PW), "PAM_AUTH_ERR")
        tl.next_second()
        self.assertEqual(self.w.login(svc, "alice", PW + good), "PAM_SUCCESS")
        logins = self.last()
        self.assertEqual(len(logins), 3)
        self.assertEqual(logins[0]["reason"], "code-accepted")


# =============================================================================
class Errors(JsonTest):
    def test_no_verb(self):
        self.jerr("usage", USAGE)
        self.assertError(self.run_raw("--json"), "usage", USAGE)

    def test_unknown_verb(self):
        for args in (["frobnicate", "alice"], ["Status", "alice"], ["app-password"],
                     ["app-password", "frob", "alice"], ["recovery-code", "alice"]):
            with self.subTest(args=args):
                self.jerr("usage", USAGE, *args)

    def test_unknown_option(self):
        self.jerr("usage", USAGE, "status", "alice", "--bogus")
        self.jerr("usage", USAGE, "app-password", "add", "alice", "x", "--expires")

    def test_wrong_number_of_arguments(self):
        for args in (["status"], ["status", "a", "b"], ["enroll", "a", "b"], ["confirm", "a"],
                     ["confirm", "a", "1", "2"], ["disable", "a", "1", "2"], ["unlock"],
                     ["app-password", "add", "a"], ["app-password", "add", "a", "n", "x"],
                     ["app-password", "list"], ["app-password", "list", "a", "b"],
                     ["app-password", "revoke", "a"], ["recovery-codes", "a", "b"], ["last"],
                     ["last", "a", "b"]):
            with self.subTest(args=args):
                self.jerr("usage", USAGE, *args)

    def test_option_not_valid_for_the_verb(self):
        for args in (["status", "alice", "--force"], ["confirm", "alice", "1", "--qr", "svg"],
                     ["unlock", "alice", "--services", "imap"], ["last", "alice", "--no-qr"],
                     ["app-password", "list", "alice", "--expires", "3"],
                     ["app-password", "revoke", "alice", "x", "--force"],
                     ["disable", "alice", "--qr", "png"], ["enroll", "alice", "--services", "imap"],
                     ["recovery-codes", "alice", "--force"]):
            with self.subTest(args=args):
                self.jerr("usage", USAGE, *args)
        self.assertEqual(self.status()["status"], "disabled")

    def test_global_options_twice(self):
        self.jerr("usage", USAGE, "--dir", "/a", "status", "alice")

    def test_json_anywhere_on_the_line(self):
        res = self.w.cli("status", "alice", "--json", check=0)
        self.assertSchema(self.parse(res), STATUS)
        self.assertError(self.w.cli("frobnicate", "--json"), "usage", USAGE)

    def test_invalid_username(self):
        for name in ("../x", ".hidden", "a/b", "", "x" * 256, "a b", "tab\there", "a\\b"):
            with self.subTest(name=name):
                self.jerr("invalid-username", USAGE, "status", name)
                self.jerr("invalid-username", USAGE, "enroll", name, "--qr", "none")
        self.assertEqual(sorted(os.listdir(self.w.store)), [])

    def test_bad_config(self):
        with open(self.w.conf, "w") as f:
            f.write("window = 99\n")
        obj = self.jerr("config", USAGE, "status", "alice")
        self.assertIn("line 1: window", obj["error"])
        with open(self.w.conf, "w") as f:
            f.write("bogus = 1\n")
        self.jerr("config", USAGE, "enroll", "alice")
        os.chmod(self.w.conf, 0o666)
        self.jerr("config", USAGE, "status", "alice")
        missing = os.path.join(self.w.root, "missing.conf")
        self.assertError(self.run_raw("--json", "--dir", self.w.store, "--conf", missing,
                                      "status", "alice"), "config", USAGE)
        self.assertError(self.run_raw("--json", "--dir", "relative", "--conf", self.w.conf,
                                      "status", "alice"), "config", USAGE)

    def test_module_options_accepted_in_the_shared_config_file(self):
        # The CLI reads the module's configuration file: the module's own keys must not
        # make it a bad configuration.
        with open(self.w.conf, "w") as f:
            f.write("reuse_grace = 30\nlast_logins = 50\nno_app_passwords = mailpanel\n"
                    "prompt = no\nprompt_text = Verification code:\n")
        self.assertEqual(self.status()["status"], "disabled")

    def test_unsafe_store(self):
        os.chmod(self.w.store, 0o777)
        for args in (["status", "alice"], ["enroll", "alice", "--qr", "none"],
                     ["app-password", "list", "alice"], ["last", "alice"]):
            with self.subTest(args=args):
                obj = self.jerr("unsafe-file", STORE, *args)
                self.assertIn("unsafe", obj["error"])

    def test_lock_timeout(self):
        with open(self.w.conf, "w") as f:
            f.write("lock_timeout = 1\n")
        self.enable()
        fd = os.open(os.path.join(self.w.store, "locks", "alice"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.jerr("lock-timeout", STORE, "app-password", "add", "alice", "phone")
            self.jerr("lock-timeout", STORE, "unlock", "alice")
        finally:
            os.close(fd)

    def test_text_mode_errors_go_to_stderr(self):
        res = self.w.cli("confirm", "nobody", "123456", check=STATE)
        self.assertEqual(res.stdout, "")
        self.assertTrue(res.stderr.startswith("mailotp: "), res.stderr)
        res = self.w.cli("app-password", "add", "alice", "x", "--expires", "0", check=USAGE)
        self.assertEqual(res.stdout, "")
        self.assertIn("--expires", res.stderr)


if __name__ == "__main__":
    import unittest

    unittest.main()
