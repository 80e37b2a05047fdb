# SPDX-License-Identifier: GPL-2.0-or-later
"""QR images from `mailotp enroll --qr FORMAT:FILE`: the image decodes to the URI on stdout.

The oracle is an independent decoder: zbarimg (Debian zbar-tools) reads the PNG,
and SVG goes through rsvg-convert (Debian librsvg2-bin) first.  A missing tool
fails the test rather than skipping it.
"""
import os
import shutil
import stat
import struct
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET

from mailotp_testlib import WorldTest

SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCALE = 8  # pixels per module
QUIET = 4  # modules of quiet zone on each side


class QrImages(WorldTest):
    def tool(self, name, package):
        path = shutil.which(name)
        if path is None:
            self.fail("%s is required (apt-get install %s)" % (name, package))
        return path

    def path(self, name):
        return os.path.join(self.w.root, name)

    def enroll_qr(self, user, spec):
        """Enroll with --qr SPEC; returns the one otpauth:// line printed on stdout."""
        res = self.w.cli("enroll", "--qr", spec, user, check=0)
        uris = [l for l in res.stdout.splitlines() if l.startswith("otpauth://")]
        self.assertEqual(len(uris), 1, res.stdout)
        return uris[0]

    def decode(self, png):
        zbarimg = self.tool("zbarimg", "zbar-tools")
        res = subprocess.run([zbarimg, "--raw", "-q", png], capture_output=True, timeout=120)
        self.assertEqual(res.returncode, 0, "zbarimg found no QR code in %s: %s" % (
            png, res.stderr.decode(errors="replace")))
        out = res.stdout.decode("utf-8")
        self.assertTrue(out.endswith("\n"), repr(out))
        return out[:-1]

    def svg_to_png(self, svg):
        rsvg = self.tool("rsvg-convert", "librsvg2-bin")
        png = svg + ".png"
        res = subprocess.run([rsvg, "-f", "png", "-o", png, svg], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(res.returncode, 0, "rsvg-convert failed: " + res.stderr)
        return png

    def assert_qr_size(self, modules):
        """A QR symbol of version v is 17 + 4v modules wide (v = 1..40)."""
        inner = modules - 2 * QUIET
        self.assertTrue(21 <= inner <= 177 and (inner - 17) % 4 == 0,
                        "%d modules is not a QR symbol plus a %d-module quiet zone" % (modules, QUIET))

    def check_png(self, png):
        with open(png, "rb") as f:
            head = f.read(33)
        self.assertEqual(head[:8], PNG_MAGIC)
        self.assertEqual(head[12:16], b"IHDR")
        width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
        self.assertEqual(width, height)
        self.assertEqual(width % SCALE, 0, width)
        self.assert_qr_size(width // SCALE)
        self.assertIn(depth, (1, 8))
        self.assertEqual(colour, 0)  # grayscale

    def check_svg(self, svg):
        root = ET.parse(svg).getroot()
        self.assertEqual(root.tag, SVG_NS + "svg")
        self.assertEqual(root.get("version"), "1.1")
        self.assertEqual(root.get("shape-rendering"), "crispEdges")
        box = root.get("viewBox", "").split()
        self.assertEqual(len(box), 4, box)
        self.assertEqual(box[:2], ["0", "0"])
        self.assertEqual(box[2], box[3])
        modules = int(box[2])
        self.assert_qr_size(modules)
        self.assertEqual(root.get("width"), str(modules * SCALE))
        self.assertEqual(root.get("height"), str(modules * SCALE))
        self.assertEqual(len(root.findall(SVG_NS + "rect")), 1)
        self.assertEqual(len(root.findall(SVG_NS + "path")), 1)

    def test_png_decodes_to_the_uri(self):
        png = self.path("alice.png")
        uri = self.enroll_qr("alice", "png:" + png)
        self.check_png(png)
        self.assertEqual(self.decode(png), uri)
        self.assertEqual(self.w.status("alice")["status"], "pending")

    def test_svg_is_xml_and_decodes_to_the_uri(self):
        svg = self.path("alice.svg")
        uri = self.enroll_qr("alice", "svg:" + svg)
        self.check_svg(svg)
        self.assertEqual(self.decode(self.svg_to_png(svg)), uri)

    def test_at_sign_and_issuer_with_space_round_trip(self):
        with open(self.w.conf, "w") as f:
            f.write("issuer = Example Mail\n")
        user = "Bob.Smith@Example.com"
        for fmt in ("png", "svg"):
            with self.subTest(fmt=fmt):
                image = self.path("bob." + fmt)
                uri = self.enroll_qr(user, "%s:%s" % (fmt, image))
                png = image if fmt == "png" else self.svg_to_png(image)
                decoded = self.decode(png)
                self.assertEqual(decoded, uri)
                u = urllib.parse.urlparse(decoded)
                self.assertEqual(urllib.parse.unquote(u.path), "/Example Mail:" + user)
                self.assertEqual(urllib.parse.parse_qs(u.query)["issuer"], ["Example Mail"])

    def test_image_file_is_private(self):
        # The image encodes the TOTP secret, as the record does.
        for fmt in ("png", "svg"):
            with self.subTest(fmt=fmt):
                image = self.path("carol." + fmt)
                self.enroll_qr("carol", "%s:%s" % (fmt, image))
                self.assertEqual(stat.S_IMODE(os.stat(image).st_mode) & 0o077, 0)

    def test_unknown_format_is_a_usage_error(self):
        for spec in ("bogus", "PNG", "Svg"):
            with self.subTest(format=spec):
                image = self.path("dave." + spec)
                res = self.w.cli("enroll", "--qr", "%s:%s" % (spec, image), "dave", check=2)
                self.assertNotIn("otpauth://", res.stdout)
                self.assertFalse(os.path.exists(image))
        # Refused before anything happened: no secret was made.
        self.assertEqual(self.w.status("dave")["status"], "disabled")
