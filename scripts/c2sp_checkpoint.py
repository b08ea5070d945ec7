#!/usr/bin/env python3
"""Verifies a signed checkpoint against verifier keys, independently of the
Rust code, from the C2SP texts: c2sp.org/signed-note (note format, key ids,
vkeys, Ed25519 type 0x01), c2sp.org/tlog-checkpoint (the note text) and
c2sp.org/tlog-cosignature (Ed25519 cosignatures, type 0x04). Python 3.11
standard library only; Ed25519 verification is written here from RFC 8032.

Usage:
  scripts/c2sp_checkpoint.py CHECKPOINT (--key VKEY)... [--keys FILE] [--min N]
  scripts/c2sp_checkpoint.py --self-test

Prints one line per signature line: name, key id, type, and OK, FAILED or
UNKNOWN (no trusted key has that name and key id). Exits 0 only when the
note and checkpoint are well formed, every signature by a trusted key
verifies, and at least N (default 1) trusted keys signed; 1 otherwise.
A --keys file holds one vkey per line; blank lines and # comments are skipped.
"""

import argparse
import base64
import binascii
import hashlib
import sys

MAX_SIGNATURES = 100
EM_DASH_PREFIX = "\u2014 "
TYPE_ED25519 = 0x01
TYPE_COSIGNATURE_V1 = 0x04
TYPE_NAMES = {TYPE_ED25519: "ed25519", TYPE_COSIGNATURE_V1: "cosignature/v1"}


class Malformed(Exception):
    pass


# --- Ed25519 verification, RFC 8032 §5.1 (Ed25519, no context, no prehash) --

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the group order
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
NEUTRAL = (0, 1, 1, 0)  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def point_add(p1, p2):
    """The unified addition of RFC 8032 §5.1.4 (also used for doubling)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(k, point):
    result = NEUTRAL
    while k:
        if k & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        k >>= 1
    return result


def same_point(p1, p2):
    return (p1[0] * p2[2] - p2[0] * p1[2]) % P == 0 and (p1[1] * p2[2] - p2[1] * p1[2]) % P == 0


def decode_point(encoded):
    """RFC 8032 §5.1.3: None unless `encoded` is a canonical point encoding."""
    if len(encoded) != 32:
        return None
    n = int.from_bytes(encoded, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    elif v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))


def ed25519_verify(public_key, message, signature):
    """RFC 8032 §5.1.7, with the cofactored equation [8][S]B = [8]R + [8][k]A."""
    if len(signature) != 64:
        return False
    a_point, r_point = decode_point(public_key), decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a_point is None or r_point is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    left = scalar_mult(8 * s, BASE)
    right = scalar_mult(8, point_add(r_point, scalar_mult(k, a_point)))
    return same_point(left, right)


def ed25519_public_key(seed):
    """RFC 8032 §5.1.5, for the self-test: the public key of a 32-byte seed."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a = (a & ((1 << 254) - 8)) | (1 << 254)
    x, y, z, _ = scalar_mult(a, BASE)
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


# --- signed-note ------------------------------------------------------------


def b64decode_strict(text):
    """Standard base64 with padding, canonical (it re-encodes to itself)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def valid_key_name(name):
    return name != "" and "+" not in name and not any(c.isspace() or ord(c) < 0x20 for c in name)


def key_id(name, sig_type, public_key):
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def parse_vkey(vkey):
    """<name>+<hex key id>+<base64(type || key)>; the id must be the key's."""
    # A name holds no '+', but base64 may: only the first two split.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise Malformed(f"vkey {vkey!r}: not name+id+key")
    name, id_hex, key_b64 = parts
    if not valid_key_name(name):
        raise Malformed(f"vkey {vkey!r}: bad key name")
    if len(id_hex) != 8 or any(c not in "0123456789abcdef" for c in id_hex):
        raise Malformed(f"vkey {vkey!r}: key id is not 8 lower-case hex digits")
    raw = b64decode_strict(key_b64)
    if raw is None or len(raw) != 33:
        raise Malformed(f"vkey {vkey!r}: key is not base64 of a type byte and 32 bytes")
    sig_type, public_key = raw[0], raw[1:]
    if sig_type not in TYPE_NAMES:
        raise Malformed(f"vkey {vkey!r}: signature type 0x{sig_type:02x} not supported")
    if key_id(name, sig_type, public_key) != int(id_hex, 16):
        raise Malformed(f"vkey {vkey!r}: key id does not match the key")
    return name, int(id_hex, 16), sig_type, public_key


def parse_note(data):
    """Returns (text, [(name, key id, signature bytes)])."""
    try:
        note = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Malformed(f"not UTF-8 at byte {e.start}")
    for i, ch in enumerate(note):
        if ord(ch) < 0x20 and ch != "\n":
            raise Malformed(f"control character U+{ord(ch):04X} at character {i}")
    split = note.rfind("\n\n")
    if split < 0:
        raise Malformed("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if block == "":
        raise Malformed("no signature lines")
    if not block.endswith("\n"):
        raise Malformed("the last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise Malformed(f"more than {MAX_SIGNATURES} signature lines")
    return text, [parse_signature_line(line, n) for n, line in enumerate(lines, 1)]


def parse_signature_line(line, number):
    if not line.startswith(EM_DASH_PREFIX):
        raise Malformed(f"signature line {number} does not start with an em dash and a space")
    name, space, encoded = line[len(EM_DASH_PREFIX) :].partition(" ")
    if not space or not valid_key_name(name):
        raise Malformed(f"signature line {number}: bad key name")
    raw = b64decode_strict(encoded)
    if raw is None or len(raw) < 5:
        raise Malformed(f"signature line {number}: signature is not base64 of at least 5 bytes")
    return name, int.from_bytes(raw[:4], "big"), raw[4:]


# --- tlog-checkpoint and tlog-cosignature -------------------------------------


def parse_checkpoint(text):
    """Origin, decimal size and base64 root, then optional extension lines."""
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise Malformed("a checkpoint is at least three non-empty lines")
    origin, size, root = lines[:3]
    if not size.isascii() or not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        raise Malformed(f"size {size!r} is not decimal without leading zeros")
    if int(size) >= 2**64:
        raise Malformed(f"size {size} does not fit 64 bits")
    root_bytes = b64decode_strict(root)
    if root_bytes is None or len(root_bytes) != 32:
        raise Malformed("the root is not base64 of 32 bytes")
    return origin, int(size), root_bytes.hex()


def verify_signature(sig_type, public_key, text, signature):
    """True or False; for a cosignature also its timestamp."""
    if sig_type == TYPE_ED25519:
        return ed25519_verify(public_key, text.encode("utf-8"), signature), None
    if len(signature) != 72:
        return False, None
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > 2**63 - 1:
        return False, timestamp
    message = f"cosignature/v1\ntime {timestamp}\n{text}".encode("utf-8")
    return ed25519_verify(public_key, message, signature[8:]), timestamp


def check(data, vkeys, minimum, out):
    """Prints the report and returns True when the checkpoint is accepted."""
    trusted = {}
    for vkey in vkeys:
        name, kid, sig_type, public_key = parse_vkey(vkey)
        if trusted.get((name, kid), (sig_type, public_key)) != (sig_type, public_key):
            raise Malformed(f"two trusted keys are named {name} with key id {kid:08x}")
        trusted[(name, kid)] = (sig_type, public_key)
    text, signatures = parse_note(data)
    origin, size, root = parse_checkpoint(text)
    print(f"checkpoint {origin} size {size} root {root}", file=out)
    verified, failed = set(), 0
    for name, kid, signature in signatures:
        if (name, kid) not in trusted:
            print(f"{name} {kid:08x} - UNKNOWN", file=out)
            continue
        sig_type, public_key = trusted[(name, kid)]
        ok, timestamp = verify_signature(sig_type, public_key, text, signature)
        when = f" time {timestamp}" if timestamp is not None else ""
        print(f"{name} {kid:08x} {TYPE_NAMES[sig_type]}{when} {'OK' if ok else 'FAILED'}", file=out)
        if ok:
            verified.add((name, kid))
        else:
            failed += 1
    print(f"{len(verified)} trusted signer(s) verified, {failed} failed, {minimum} required", file=out)
    return failed == 0 and len(verified) >= max(minimum, 1)


# --- self-test ----------------------------------------------------------------

# RFC 8032 §7.1, "Test Vectors for Ed25519": TEST 1, TEST 2, TEST 3
# (secret key, public key, message, signature).
RFC8032_TESTS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]

# The example of c2sp.org/signed-note, "Verifier keys".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def self_test():
    failures = []
    for n, (secret, public, message, signature) in enumerate(RFC8032_TESTS, 1):
        public, message, signature = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
        if ed25519_public_key(bytes.fromhex(secret)) != public:
            failures.append(f"RFC 8032 TEST {n}: public key")
        if not ed25519_verify(public, message, signature):
            failures.append(f"RFC 8032 TEST {n}: signature refused")
        for bit in (0, 255, 256, 511):
            bad = bytearray(signature)
            bad[bit // 8] ^= 1 << (bit % 8)
            if ed25519_verify(public, message, bytes(bad)):
                failures.append(f"RFC 8032 TEST {n}: signature with bit {bit} flipped accepted")
        if ed25519_verify(public, message + b"x", signature):
            failures.append(f"RFC 8032 TEST {n}: signature over another message accepted")
    name, kid, sig_type, public_key = parse_vkey(SPEC_VKEY)
    text, sigs = parse_note(SPEC_NOTE.encode("utf-8"))
    if sigs[0][:2] != (name, kid) or not ed25519_verify(public_key, text.encode("utf-8"), sigs[0][2]):
        failures.append("signed-note example does not verify")
    for failure in failures:
        print(f"FAILED {failure}")
    print("self-test " + ("FAILED" if failures else "OK: RFC 8032 TEST 1-3, signed-note example"))
    return not failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="signed checkpoint file")
    parser.add_argument("--key", action="append", default=[], help="a trusted vkey (repeatable)")
    parser.add_argument("--keys", help="file of trusted vkeys, one a line")
    parser.add_argument("--min", type=int, default=1, help="trusted signers required (default 1)")
    parser.add_argument("--self-test", action="store_true", help="check RFC 8032 TEST 1-3 and exit")
    args = parser.parse_args()
    if args.self_test:
        return 0 if self_test() else 1
    if args.checkpoint is None:
        parser.error("a checkpoint file is required")
    vkeys = list(args.key)
    if args.keys:
        with open(args.keys, encoding="utf-8") as f:
            vkeys += [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    if not vkeys:
        parser.error("no trusted keys: give --key or --keys")
    with open(args.checkpoint, "rb") as f:
        data = f.read()
    try:
        accepted = check(data, vkeys, args.min, sys.stdout)
    except Malformed as e:
        print(f"malformed: {e}")
        return 1
    print("OK" if accepted else "FAILED")
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
