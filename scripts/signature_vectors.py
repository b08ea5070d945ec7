#!/usr/bin/env python3
"""Writes ledger/testdata/signature_edge_cases.json: ed25519 edge cases, each
with its verdict under fundtrail's signature rule (docs/ENCODING.md,
"Signature validity"), computed here by a slow reference implementation
independent of the Rust code that the vectors check.

Run from the repository root: python3 scripts/signature_vectors.py

The rule: the ZIP-215 equation holds AND the key passes strict enrolment
(canonical encoding, prime order). The file records both parts and the
verdict.

Besides cases crafted here, the file holds the twelve vectors of "Taming the
many EdDSAs" (Chalkias, Garillot, Nikolaenko, SSR 2020), as published in
github.com/novifinancial/ed25519-speccheck, file cases.json.
"""

import hashlib
import json
import sys

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)

# Published vectors, source: novifinancial/ed25519-speccheck, cases.json
# (Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020).
SPECCHECK = [
    ("8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
     "small A and small R, S = 0"),
    ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
     "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
     "small A, mixed R"),
    ("aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
     "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
     "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
     "mixed A, small R"),
    ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
     "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
     "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
     "mixed A and R, passes cofactored and cofactorless"),
    ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
     "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
     "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
     "mixed A and R, passes cofactored only"),
    ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
     "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
     "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
     "mixed A, prime-order R, passes cofactored unless 8k is pre-reduced"),
    ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
     "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
     "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
     "S > L"),
    ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
     "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
     "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
     "S >> L, high bits set"),
    ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
     "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
     "non-canonical small R, hashed reduced"),
    ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
     "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
     "non-canonical small R, hashed as given"),
    ("e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
     "non-canonical small A, hashed reduced"),
    ("39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
     "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
     "non-canonical small A, hashed as given"),
]
# ed25519-zebra's published row for these twelve (speccheck results.md).
SPECCHECK_ZIP215 = [True] * 6 + [False] * 3 + [True] * 3


def inv(x):
    return pow(x, P - 2, P)


def add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(n, point):
    out = IDENTITY
    while n:
        if n & 1:
            out = add(out, point)
        point = add(point, point)
        n >>= 1
    return out


def neg(point):
    x, y, z, t = point
    return (-x % P, y, z, -t % P)


def equal(p1, p2):
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def affine(point):
    x, y, z, _ = point
    zi = inv(z)
    return x * zi % P, y * zi % P


def from_affine(x, y):
    return (x, y, 1, x * y % P)


def decompress(enc):
    """ZIP-215 decoding: y need not be reduced, and x = 0 may carry the sign
    bit. None when no point has that y."""
    raw = int.from_bytes(enc, "little")
    sign = raw >> 255
    y = (raw & (2**255 - 1)) % P
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = -x % P
    return from_affine(x, y)


def compress(point):
    x, y = affine(point)
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def is_small_order(point):
    return equal(mul(8, point), IDENTITY)


def is_torsion_free(point):
    return equal(mul(L, point), IDENTITY)


def h_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


BASE = decompress((4 * inv(5) % P).to_bytes(32, "little"))


def zip215_holds(key, message, sig):
    a, r = decompress(key), decompress(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = h_int(sig[:32], key, message) % L
    lhs = mul(8, mul(s, BASE))
    rhs = mul(8, add(r, mul(k, a)))
    return equal(lhs, rhs)


def key_enrolable(key):
    a = decompress(key)
    return (
        a is not None
        and compress(a) == key
        and not is_small_order(a)
        and is_torsion_free(a)
    )


def eight_torsion():
    """The eight points of order dividing 8, T[i] = i * T[1]."""
    y = 2
    while True:
        point = decompress(y.to_bytes(32, "little"))
        if point is not None:
            t = mul(L, point)
            if not equal(mul(4, t), IDENTITY):
                return [mul(i, t) for i in range(8)]
        y += 1


def non_canonical_low_order_encodings():
    """Low-order points whose encoding is not the canonical one: y = p + y'
    for y' in {0, 1}, and x = 0 with the sign bit set."""
    out = []
    for y, sign in [(1, 1), (P - 1, 1), (P, 0), (P, 1), (P + 1, 0), (P + 1, 1)]:
        out.append((y | (sign << 255)).to_bytes(32, "little"))
    return out


def not_a_point():
    y = 2
    while decompress(y.to_bytes(32, "little")) is not None:
        y += 1
    return y.to_bytes(32, "little")


class Signer:
    """An ed25519 key from a 32-byte seed, as RFC 8032 expands it."""

    def __init__(self, seed):
        h = hashlib.sha512(seed).digest()
        a = bytearray(h[:32])
        a[0] &= 248
        a[31] &= 127
        a[31] |= 64
        self.scalar = int.from_bytes(a, "little")
        self.prefix = h[32:]
        self.point = mul(self.scalar, BASE)
        self.key = compress(self.point)

    def nonce(self, message, tag=b""):
        return h_int(self.prefix, tag, message) % L

    def sign_with(self, r_enc, r, message, key=None, hashed_r=None):
        """s = r + k·a, k over `hashed_r` (default: R as given) and `key`."""
        k = h_int(hashed_r or r_enc, key or self.key, message) % L
        s = (r + k * self.scalar) % L
        return r_enc + s.to_bytes(32, "little")

    def sign(self, message):
        r = self.nonce(message)
        return self.sign_with(compress(mul(r, BASE)), r, message)


def digest(name):
    return hashlib.sha256(b"fundtrail signature vector " + name.encode()).digest()


def crafted():
    torsion = eight_torsion()
    signer = Signer(bytes([0x5A] * 32))
    cases = []

    def case(name, key, message, sig):
        cases.append((name, "crafted", key, message, sig))

    msg = digest("honest")
    honest = signer.sign(msg)
    case("honest signature", signer.key, msg, honest)
    flipped = bytearray(msg)
    flipped[0] ^= 1
    case("honest signature over another digest", signer.key, bytes(flipped), honest)

    for i in range(1, 8):
        msg = digest(f"mixed R {i}")
        r = signer.nonce(msg, b"mixed")
        r_enc = compress(add(mul(r, BASE), torsion[i]))
        case(f"R = rB + T{i} (mixed order)", signer.key, msg, signer.sign_with(r_enc, r, msg))

    for i in range(8):
        msg = digest(f"small R {i}")
        case(f"R = T{i} (small order)", signer.key, msg,
             signer.sign_with(compress(torsion[i]), 0, msg))

    for n, enc in enumerate(non_canonical_low_order_encodings()):
        msg = digest(f"non-canonical R {n}")
        case(f"non-canonical small R {n}, hashed as given", signer.key, msg,
             signer.sign_with(enc, 0, msg))
        canonical = compress(decompress(enc))
        case(f"non-canonical small R {n}, hashed reduced", signer.key, msg,
             signer.sign_with(enc, 0, msg, hashed_r=canonical))

    msg = digest("R not a point")
    case("R not a point", signer.key, msg, signer.sign_with(not_a_point(), 0, msg))

    s = int.from_bytes(honest[32:], "little")
    case("s + l (non-canonical s)", signer.key, digest("honest"),
         honest[:32] + (s + L).to_bytes(32, "little"))
    case("s with the top bit set", signer.key, digest("honest"),
         honest[:32] + (s | (1 << 255)).to_bytes(32, "little"))

    small_keys = [compress(t) for t in torsion] + non_canonical_low_order_encodings()
    for n, key in enumerate(small_keys):
        msg = digest(f"small A {n}")
        r = signer.nonce(msg, b"small A")
        sig = compress(mul(r, BASE)) + r.to_bytes(32, "little")
        kind = "canonical" if n < 8 else "non-canonical"
        case(f"small A {n} ({kind}), equation holds", key, msg, sig)

    for i in (1, 4):
        mixed_key = compress(add(signer.point, torsion[i]))
        msg = digest(f"mixed A {i}")
        r = signer.nonce(msg, b"mixed A")
        sig = signer.sign_with(compress(mul(r, BASE)), r, msg, key=mixed_key)
        case(f"A = aB + T{i} (mixed order), equation holds", mixed_key, msg, sig)

    msg = digest("A not a point")
    case("A not a point", not_a_point(), msg, signer.sign(msg))
    return cases


def published():
    cases = []
    for n, (msg, key, sig, note) in enumerate(SPECCHECK):
        cases.append((f"speccheck case {n}: {note}", f"ed25519-speccheck cases.json #{n}",
                      bytes.fromhex(key), bytes.fromhex(msg), bytes.fromhex(sig)))
        if zip215_holds(bytes.fromhex(key), bytes.fromhex(msg), bytes.fromhex(sig)) != SPECCHECK_ZIP215[n]:
            sys.exit(f"speccheck case {n}: reference disagrees with the published ZIP-215 verdict")
    return cases


def main():
    vectors = []
    for name, source, key, message, sig in crafted() + published():
        zip215 = zip215_holds(key, message, sig)
        enrolable = key_enrolable(key)
        vectors.append({
            "name": name,
            "source": source,
            "key": key.hex(),
            "digest": message.hex(),
            "signature": sig.hex(),
            "zip215": zip215,
            "key_enrolable": enrolable,
            "verdict": zip215 and enrolable,
        })
    out = {
        "rule": "valid iff the ZIP-215 equation holds and the key passes strict enrolment "
                "(canonical encoding, prime order); see docs/ENCODING.md, Signature validity",
        "sources": {
            "crafted": "scripts/signature_vectors.py",
            "ed25519-speccheck": "github.com/novifinancial/ed25519-speccheck cases.json: "
                                 "Chalkias, Garillot, Nikolaenko, Taming the many EdDSAs (SSR 2020)",
        },
        "vectors": vectors,
    }
    with open("ledger/testdata/signature_edge_cases.json", "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
