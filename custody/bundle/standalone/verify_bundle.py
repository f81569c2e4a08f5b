#!/usr/bin/env python3
"""Check a custody bundle with nothing but the Python standard library and the ``openssl`` command.

    python3 -I verify_bundle.py BUNDLE [--vkey FILE] [--against-checkpoint FILE]... [--tsa-ca FILE]
                                       [--identity AGE_KEY_FILE] [--json]

BUNDLE is the bundle zip (any file name), an age-encrypted bundle (then --identity and the ``age``
command are needed), or the unpacked bag folder; Python 3.9 or later. Exit 0: every check passed;
1: a check failed; 2: the input could not be read. This program is independent of custody: it was written from the
format description in custody/FORMATS.md, which states every byte hashed or signed.

Why one file of over a thousand lines: it is shipped verbatim in every bundle so that a court, an
opposing expert or anyone else can run it alone, with stock Python and no custody installed, and
read all of what it checks in one place. Modules would need a package, an import path and an
installer; its "# ---" sections (canonical JSON, openssl, Merkle proofs, BLAKE3, signed notes,
reading the bag, the checks) stand in for them. In short, what it checks:

- Key id: lowercase hex SHA-256 of the raw 32-byte Ed25519 public key. Public keys in PEM are
  SubjectPublicKeyInfo (12 fixed DER bytes 302a300506032b6570032100, then the raw key).
- JCS: RFC 8785 canonical JSON (keys sorted by UTF-16 code units, no blanks, ECMAScript numbers).
- Event: {seq, time, actor, action, item, payload, prev, sig}; ``sig`` = base64 Ed25519 signature by
  the key ``actor`` over JCS(event without sig); ``prev`` = hex SHA-256(JCS(previous event with sig)),
  64 zeros for event 0; Merkle leaf = SHA-256(0x00 || JCS(event with sig)), leaf index = seq.
- custody/events.jsonl: one event per line, each line ends with LF, in increasing seq.
- custody/items.json: [{record, signature, signer, path?}]; signature = base64 Ed25519 over JCS(record);
  the item's ingest event has payload.record_sha256 = hex SHA-256(JCS(record)). The payload file at path
  has the SHA-256 record.sha256 and the BLAKE3 record.blake3 (default hash mode, 32 bytes, hex).
- BLAKE3 is computed here in pure Python (section "BLAKE3" below; neither hashlib nor openssl has it): about
  5-10 MB/s in CPython 3.11, so a 1 GB payload takes minutes; a file hashed for longer than 10 s shows its
  progress on stderr. SHA-256 and SHA-512 come from hashlib.
- Derived items: record.derived_from {item_id, record_sha256, relation}; the source's ingest event binds that
  record_sha256 and a derive event on the source names {derived_item, record_sha256, relation} of the copy.
- custody/disclosures.json: {digest: text}; text = JCS([salt, field, value]) (salt >= 128 bits), digest =
  hex SHA-256(text), committed under the same field in record/acquisition "withholdable".digests.
- custody/proofs.json: {tree_size, inclusion: {seq: [hex]}, consistency: {old size: [hex]}} (RFC 9162).
- custody/checkpoint.txt: C2SP signed note holding a C2SP tlog checkpoint (origin, size, base64 root);
  custody/vkey.txt: its verifier key origin+hex(keyhash)+base64(0x01||key), keyhash =
  SHA-256(origin || 0x0A || 0x01 || key)[:4]. It must equal payload.vkey of event 0 (archive.init).
- Manifests: BagIt, "<hex digest>  <path>" + LF; %25 %0A %0D decoded in paths; manifest-sha256.txt and
  manifest-sha512.txt each list every payload file. The exporter's Ed25519
  signature over the bytes of tagmanifest-sha256.txt is custody/seal.sig (key custody/seal.pub.pem).
- Authority: keys are registered only by actor.add events carried in the bundle (event 1 registers the
  first admin, the signer of events 0 and 1); a key signs validly only after its registration, and
  only actions its role allows. An event more than 5 minutes older than an earlier one is a failure.
- Key lifecycle (admin-signed): actor.role {name, key_id, role} changes the key's role after it;
  actor.revoke {name, key_id, reason, compromised_since?} ends the key after it, and the key's events
  with seq >= compromised_since are failures (signed by a compromised key); actor.rotate {name,
  old_key_id, key_id, public_key, possession, endorsement?} ends the old key and registers the new one
  with the old role, if possession (and endorsement, when present) are Ed25519 signatures by the new
  (old) key over JCS({"statement": "custody.actor.rotate", "name", "old_key_id", "key_id"}).
- Checkpoint cosignature: custody/checkpoint.txt also carries a signature line named
  "custody.actor/<key id>" (key hash SHA-256(name || 0x0A || 0x01 || key)[:4]) by a key registered by a
  carried event inside the tree and not revoked/retired before the tree's last event. Without one, the
  checkpoint fails if any carried key ended before that event.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable, Protocol

SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
GENESIS_PREV = "0" * 64
TOLERANCE = timedelta(minutes=5)
BUNDLE_ID = re.compile(r"BND-[0-9]{8}-[0-9a-f]{8}")
REQUIRED = ["bagit.txt", "bag-info.txt", "tagmanifest-sha256.txt", "custody/items.json", "custody/events.jsonl",
            "custody/proofs.json", "custody/checkpoint.txt", "custody/vkey.txt", "custody/seal.sig",
            "custody/seal.pub.pem"]  # fmt: skip
SEAL_FILES = {"custody/seal.sig", "custody/seal.pub.pem", "custody/seal.tsr", "custody/seal.tsa-certs.pem"}
MANIFESTS = {"manifest-sha256.txt": "sha256", "manifest-sha512.txt": "sha512"}
ALL = {"ingest", "annotate", "export", "import", "view", "access", "verify", "checkpoint", "manage-actors",
       "administer"}  # fmt: skip
GRANTS = {
    "admin": ALL,
    "archivist": {"ingest", "annotate", "export", "import", "view", "access", "checkpoint"},
    "analyst": {"view", "annotate", "access"},
    "reviewer": {"view", "verify", "access", "checkpoint"},
}
NEEDS = {"actor.add": "manage-actors", "archive.upgrade": "administer", "configure": "administer",
         "ingest": "ingest", "acquire": "ingest", "derive": "ingest", "annotate": "annotate", "export": "export",
         "export.request": "export", "export.approve": "export", "export.reject": "export",
         "export.failed": "export", "import": "import", "view": "view", "access": "access",
         "verify": "verify", "report": "view", "actor.revoke": "manage-actors", "actor.rotate": "manage-actors",
         "actor.role": "manage-actors", "case.add": "ingest", "correct": "ingest",
         "replicate": "administer"}  # fmt: skip
LIFECYCLE = {"actor.revoke", "actor.rotate", "actor.role"}


class BadInput(Exception):
    """The bundle cannot be read at all (exit 2)."""


class BadOwnFile(BadInput):
    """A file the court gave besides the bundle (a key, a checkpoint, a TSA root) cannot be read (exit 2)."""


def _read_own(path: Path, what: str) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadOwnFile(f"{path}: cannot read {what} ({why}); check the path") from None


# --- canonical JSON (RFC 8785) ------------------------------------------------------------------------


def _number(value: float) -> str:
    """ECMAScript Number::toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities are not JSON")
    if value == 0:
        return "0"
    sign, value = ("-", -value) if value < 0 else ("", value)
    mantissa, _, exp = repr(value).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    power = int(exp or 0) - len(frac)  # value = int(digits) * 10**power
    stripped = digits.rstrip("0")
    power += len(digits) - len(stripped)
    k, n = len(stripped), len(stripped) + power
    digits = stripped
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = f"{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + e
    return sign + text


def jcs(value: object) -> str:
    """RFC 8785 canonical text of a parsed JSON value."""
    if value is None or value is True or value is False:
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:  # beyond the doubles' exact integers: RFC 8785 gives it no safe form
            raise ValueError(f"integer {value} has no canonical JSON form")
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k]) for k in keys) + "}"
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def jcs_bytes(value: object) -> bytes:
    return jcs(value).encode("utf-8")


# --- cryptography through the openssl command -----------------------------------------------------------


class OpenSSL:
    """Ed25519 verification and RFC 3161 token checks by running ``openssl``."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.count = 0

    def _file(self, data: bytes) -> str:
        self.count += 1
        path = self.work / f"f{self.count}"
        path.write_bytes(data)
        return str(path)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(["openssl", *args], capture_output=True, text=True, errors="replace")
        except FileNotFoundError:
            raise BadInput("the openssl command is not installed; it is needed to check signatures") from None

    def ed25519(self, raw_key: bytes, signature: bytes, message: bytes) -> bool:
        if len(raw_key) != 32 or len(signature) != 64:
            return False
        pem = (
            b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(SPKI_ED25519 + raw_key) + b"\n-----END PUBLIC KEY-----\n"
        )
        proc = self.run("pkeyutl", "-verify", "-pubin", "-inkey", self._file(pem), "-rawin",
                        "-in", self._file(message), "-sigfile", self._file(signature))  # fmt: skip
        return proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout


def raw_key_of_pem(text: str) -> bytes:
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    der = base64.b64decode(body, validate=True)
    if len(der) != 44 or not der.startswith(SPKI_ED25519):
        raise ValueError("not an Ed25519 public key")
    return der[12:]


def key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


# --- Merkle proofs (RFC 9162 section 2.1) ---------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_ok(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_ok(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    if not 0 <= m <= n:
        return False
    if m == 0:  # the empty tree is a prefix of every tree; its root is SHA-256 of nothing
        return not proof and old_root == hashlib.sha256(b"").digest()
    if m == n:
        return not proof and old_root == new_root
    if m & (m - 1) == 0:  # the old tree is a perfect subtree: its root starts the path
        proof = [old_root, *proof]
    if not proof:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# --- BLAKE3 (hash mode, 32-byte output), from the BLAKE3 specification -------------------------------------
# J. O'Connor, J.-P. Aumasson, S. Neves, Z. Wilcox-O'Hearn, "BLAKE3: one function, fast everywhere" (2020),
# github.com/BLAKE3-team/BLAKE3-specs. Neither hashlib nor openssl has BLAKE3, so it is written out here in
# pure Python: the compression function (spec section 2.2), chunk chaining (2.4), parent nodes (2.5) in the
# binary tree of chunks (2.1), and the root output (2.6). Only the default hash mode with a 32-byte digest.
# Speed: CPython runs one compression at a time at under 1 MB/s, so, as the spec's SIMD implementations do
# (section 5.3, "hash many" chunks in parallel), the same compression code runs on LANES chunks at once:
# every state word is a Python integer holding one 32-bit word per lane, lane k at bits 64k..64k+31. Adding,
# xor-ing, shifting and masking such integers does it in every lane (64-bit lanes leave room for carries
# and shifted-out bits, which the mask drops). This runs at about 5-10 MB/s in CPython 3.11 (benchmarks/blake3_pure.py),
# so a 1 GB file takes a few minutes: large files show their progress on stderr.

B3_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
CHUNK_START, CHUNK_END, PARENT, ROOT = 1, 2, 4, 8  # domain flags (2.2); the hash mode sets no others
CHUNK_LEN, BLOCK_LEN, LANES = 1024, 64, 64  # LANES: a power of two, the chunks hashed at once
WORD = 0xFFFFFFFF
PROGRESS = 10.0  # seconds between progress lines while one file is hashed
_BLOCK = struct.Struct("<16I")


def b3_compress(cv: tuple[int, ...], m: tuple[int, ...] | list[int], t0: int, t1: int, length: int, flags: int,
                M: int = WORD) -> tuple[int, ...]:  # fmt: skip
    """Section 2.2: the first 8 words of the compression function's output, i.e. the next chaining value.

    State: v0-v7 = chaining value, v8-v11 = IV[0:4], v12, v13 = counter (low, high word), v14 = block length
    in bytes, v15 = flags. Seven rounds of G (rotations right by 16, 12, 8, 7) over the 4 columns, then the
    4 diagonals; between rounds the 16 message words are permuted by (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5,
    9, 14, 15, 8). Output word i = v_i xor v_(i+8). With M = WORD every value is one 32-bit word; with M =
    lanes(WORD) every value holds one word per lane and the same code hashes every lane at once.
    """
    v0, v1, v2, v3, v4, v5, v6, v7 = cv
    ones = M // WORD
    v8, v9, v10, v11 = 0x6A09E667 * ones, 0xBB67AE85 * ones, 0x3C6EF372 * ones, 0xA54FF53A * ones
    v12, v13, v14, v15 = t0, t1, length, flags
    m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15 = m
    for _ in range(7):
        v0 = (v0 + v4 + m0) & M; v12 ^= v0; v12 = ((v12 >> 16) | (v12 << 16)) & M
        v8 = (v8 + v12) & M; v4 ^= v8; v4 = ((v4 >> 12) | (v4 << 20)) & M
        v0 = (v0 + v4 + m1) & M; v12 ^= v0; v12 = ((v12 >> 8) | (v12 << 24)) & M
        v8 = (v8 + v12) & M; v4 ^= v8; v4 = ((v4 >> 7) | (v4 << 25)) & M
        v1 = (v1 + v5 + m2) & M; v13 ^= v1; v13 = ((v13 >> 16) | (v13 << 16)) & M
        v9 = (v9 + v13) & M; v5 ^= v9; v5 = ((v5 >> 12) | (v5 << 20)) & M
        v1 = (v1 + v5 + m3) & M; v13 ^= v1; v13 = ((v13 >> 8) | (v13 << 24)) & M
        v9 = (v9 + v13) & M; v5 ^= v9; v5 = ((v5 >> 7) | (v5 << 25)) & M
        v2 = (v2 + v6 + m4) & M; v14 ^= v2; v14 = ((v14 >> 16) | (v14 << 16)) & M
        v10 = (v10 + v14) & M; v6 ^= v10; v6 = ((v6 >> 12) | (v6 << 20)) & M
        v2 = (v2 + v6 + m5) & M; v14 ^= v2; v14 = ((v14 >> 8) | (v14 << 24)) & M
        v10 = (v10 + v14) & M; v6 ^= v10; v6 = ((v6 >> 7) | (v6 << 25)) & M
        v3 = (v3 + v7 + m6) & M; v15 ^= v3; v15 = ((v15 >> 16) | (v15 << 16)) & M
        v11 = (v11 + v15) & M; v7 ^= v11; v7 = ((v7 >> 12) | (v7 << 20)) & M
        v3 = (v3 + v7 + m7) & M; v15 ^= v3; v15 = ((v15 >> 8) | (v15 << 24)) & M
        v11 = (v11 + v15) & M; v7 ^= v11; v7 = ((v7 >> 7) | (v7 << 25)) & M
        v0 = (v0 + v5 + m8) & M; v15 ^= v0; v15 = ((v15 >> 16) | (v15 << 16)) & M
        v10 = (v10 + v15) & M; v5 ^= v10; v5 = ((v5 >> 12) | (v5 << 20)) & M
        v0 = (v0 + v5 + m9) & M; v15 ^= v0; v15 = ((v15 >> 8) | (v15 << 24)) & M
        v10 = (v10 + v15) & M; v5 ^= v10; v5 = ((v5 >> 7) | (v5 << 25)) & M
        v1 = (v1 + v6 + m10) & M; v12 ^= v1; v12 = ((v12 >> 16) | (v12 << 16)) & M
        v11 = (v11 + v12) & M; v6 ^= v11; v6 = ((v6 >> 12) | (v6 << 20)) & M
        v1 = (v1 + v6 + m11) & M; v12 ^= v1; v12 = ((v12 >> 8) | (v12 << 24)) & M
        v11 = (v11 + v12) & M; v6 ^= v11; v6 = ((v6 >> 7) | (v6 << 25)) & M
        v2 = (v2 + v7 + m12) & M; v13 ^= v2; v13 = ((v13 >> 16) | (v13 << 16)) & M
        v8 = (v8 + v13) & M; v7 ^= v8; v7 = ((v7 >> 12) | (v7 << 20)) & M
        v2 = (v2 + v7 + m13) & M; v13 ^= v2; v13 = ((v13 >> 8) | (v13 << 24)) & M
        v8 = (v8 + v13) & M; v7 ^= v8; v7 = ((v7 >> 7) | (v7 << 25)) & M
        v3 = (v3 + v4 + m14) & M; v14 ^= v3; v14 = ((v14 >> 16) | (v14 << 16)) & M
        v9 = (v9 + v14) & M; v4 ^= v9; v4 = ((v4 >> 12) | (v4 << 20)) & M
        v3 = (v3 + v4 + m15) & M; v14 ^= v3; v14 = ((v14 >> 8) | (v14 << 24)) & M
        v9 = (v9 + v14) & M; v4 ^= v9; v4 = ((v4 >> 7) | (v4 << 25)) & M
        m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15 = (
            m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8)
    return (v0 ^ v8, v1 ^ v9, v2 ^ v10, v3 ^ v11, v4 ^ v12, v5 ^ v13, v6 ^ v14, v7 ^ v15)


_ONES: dict[int, int] = {}


def lanes(value: int, n: int) -> int:
    """``value`` (a 32-bit word) in each of ``n`` lanes."""
    if n not in _ONES:
        _ONES[n] = sum(1 << (64 * k) for k in range(n))
    return value * _ONES[n]


def b3_pack(data: bytes | bytearray | memoryview, n: int, stride: int, words: int) -> list[int]:
    """``words`` lane integers of ``n`` lanes: word w of lane k is the little-endian word at k*stride + 4w."""
    wide = bytearray(2 * n * stride)  # every 4-byte word widened to 8 (4 zero bytes), in the order of data
    for j in range(4):
        wide[j::8] = data[j : n * stride : 4]
    view = memoryview(wide).cast("Q")  # 8-byte elements; lane k of word w is element k*stride/4 + w
    step = stride // 4
    return [int.from_bytes(view[w::step].tobytes(), "little") for w in range(words)]


def b3_unpack(cv: tuple[int, ...], n: int) -> bytes:
    """The chaining values of ``n`` lanes as n * 32 bytes (8 little-endian words each)."""
    out = bytearray(32 * n)
    for i, v in enumerate(cv):
        wide = v.to_bytes(8 * n, "little")
        for j in range(4):
            out[4 * i + j :: 32] = wide[j :: 8]
    return bytes(out)


def b3_chunks(data: bytes | bytearray | memoryview, first: int, n: int) -> bytes:
    """Section 2.4: chaining values (32 bytes each) of ``n`` full chunks in ``data``, the first numbered
    ``first``. A chunk's 16 blocks are compressed in turn from the IV, with counter = the chunk's index,
    length 64, CHUNK_START on the first block and CHUNK_END on the last. None of them is the root."""
    mask = lanes(WORD, n)
    m = b3_pack(data, n, CHUNK_LEN, 256)
    t0 = sum(((first + k) & WORD) << (64 * k) for k in range(n))
    t1 = sum(((first + k) >> 32) << (64 * k) for k in range(n))
    cv = tuple(lanes(iv, n) for iv in B3_IV)
    size = lanes(BLOCK_LEN, n)
    for b in range(16):
        flags = lanes((CHUNK_START if b == 0 else 0) | (CHUNK_END if b == 15 else 0), n)
        cv = b3_compress(cv, m[16 * b : 16 * b + 16], t0, t1, size, flags, mask)
    return b3_unpack(cv, n)


def b3_parents(cvs: bytes, n: int) -> bytes:
    """Section 2.5: the ``n`` parents of 2n chaining values; a parent compresses left || right (one 64-byte
    block) from the IV with counter 0, length 64 and the PARENT flag (never the root here)."""
    cv = tuple(lanes(iv, n) for iv in B3_IV)
    return b3_unpack(b3_compress(cv, b3_pack(cvs, n, BLOCK_LEN, 16), 0, 0, lanes(BLOCK_LEN, n),
                                 lanes(PARENT, n), lanes(WORD, n)), n)  # fmt: skip


class Blake3:
    """Streaming BLAKE3 in bounded memory (at most LANES + 1 chunks of input and one value per tree level).

    Section 2.1: the input is split into 1024-byte chunks, the leaves of a binary tree whose left subtrees
    are complete (a power of two chunks). Each chaining value pushed on the stack is a complete subtree;
    after n chunks in all, the top two entries are merged into their parent once for each trailing zero bit
    of n. Here LANES chunks at a time (an aligned complete subtree) are hashed and merged into one value. The
    last chunk is kept back until ``hexdigest``: the root node (a chunk or a parent) is compressed with ROOT.
    """

    def __init__(self) -> None:
        self.stack: list[bytes] = []
        self.chunks = 0
        self.pending = b""

    def _push(self, cv: bytes, count: int) -> None:
        self.chunks += count
        done = self.chunks // count
        while not done & 1:
            cv = b3_parents(self.stack.pop() + cv, 1)
            done >>= 1
        self.stack.append(cv)

    def update(self, data: bytes) -> None:
        buf = self.pending + data if self.pending else bytes(data)
        pos, group = 0, LANES * CHUNK_LEN
        while len(buf) - pos > group:  # keep at least one byte back: the last chunk may be the root
            cvs = b3_chunks(memoryview(buf)[pos : pos + group], self.chunks, LANES)
            for n in (LANES // 2 ** (level + 1) for level in range(LANES.bit_length() - 1)):
                cvs = b3_parents(cvs, n)
            self._push(cvs, LANES)
            pos += group
        self.pending = buf[pos:]

    def hexdigest(self) -> str:
        """Sections 2.4-2.6: the last chunks, then the stack folded into the root, whose 8 words are the hash."""
        last, full = self.pending, max(0, (len(self.pending) - 1) // CHUNK_LEN)
        if full:
            cvs = b3_chunks(last, self.chunks, full)
            for k in range(full):
                self._push(cvs[32 * k : 32 * k + 32], 1)
            last = last[full * CHUNK_LEN :]
        blocks = [last[i : i + BLOCK_LEN] for i in range(0, len(last), BLOCK_LEN)] or [b""]
        # Alone (no earlier chunk), the last chunk is the root: its index 0 is also the output block number.
        cv: tuple[int, ...] = B3_IV
        root = ROOT if not self.stack else 0
        for n, block in enumerate(blocks):
            flags = (CHUNK_START if n == 0 else 0) | (CHUNK_END | root if n == len(blocks) - 1 else 0)
            cv = b3_compress(cv, _BLOCK.unpack(block.ljust(BLOCK_LEN, b"\0")), self.chunks & WORD,
                             self.chunks >> 32, len(block), flags)  # fmt: skip
        for n, left in enumerate(reversed(self.stack)):
            flags = PARENT | (ROOT if n == len(self.stack) - 1 else 0)
            cv = b3_compress(B3_IV, _BLOCK.unpack(left + struct.pack("<8I", *cv)), 0, 0, BLOCK_LEN, flags)
        return struct.pack("<8I", *cv).hex()


def blake3_hex(data: bytes) -> str:
    """BLAKE3 of a byte string, lowercase hex (64 digits)."""
    h = Blake3()
    h.update(data)
    return h.hexdigest()



class Updatable(Protocol):
    """A hashlib object: what ``hash_stream`` feeds besides BLAKE3."""

    def update(self, data: bytes, /) -> None: ...


def hash_stream(fh: IO[bytes], total: int, label: str, *others: Updatable, every: float = PROGRESS) -> tuple[str, int]:
    """BLAKE3 (hex) and length of a stream read in 1 MiB pieces that are also fed to ``others`` (hashlib
    objects). While it runs longer than ``every`` seconds, a progress line goes to stderr every ``every`` s."""
    b3, size = Blake3(), 0
    start = shown = time.monotonic()
    while chunk := fh.read(1 << 20):
        for h in others:
            h.update(chunk)
        b3.update(chunk)
        size += len(chunk)
        now = time.monotonic()
        if now - shown >= every:
            shown, rate = now, size / max(now - start, 1e-9)
            print(f"  hashing {label}: {size / 1e6:.0f} of {total / 1e6:.0f} MB, {rate / 1e6:.1f} MB/s, about "
                  f"{max(total - size, 0) / rate / 60:.0f} min left (BLAKE3 in pure Python)", file=sys.stderr,
                  flush=True)  # fmt: skip
    return b3.hexdigest(), size


def blake3_file(path: str) -> str:
    """BLAKE3 of a file, lowercase hex; VERIFY.md calls this (no stock tool computes BLAKE3)."""
    with open(path, "rb") as fh:
        return hash_stream(fh, os.path.getsize(path), path)[0]


# --- signed notes and checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) -----------------------


def parse_vkey(text: str) -> tuple[str, bytes, bytes]:
    """(origin, 4-byte key hash, raw key) of a verifier key; ValueError if malformed or inconsistent."""
    name, keyhash, key = text.split("+", 2)
    blob = base64.b64decode(key, validate=True)
    if len(blob) != 33 or blob[0] != 1 or not re.fullmatch(r"[0-9a-f]{8}", keyhash):
        raise ValueError("not an Ed25519 verifier key")
    if hashlib.sha256(name.encode() + b"\n\x01" + blob[1:]).digest()[:4].hex() != keyhash:
        raise ValueError("its key hash does not match its name and key")
    return name, bytes.fromhex(keyhash), blob[1:]


def open_checkpoint(note: str, vkey: str, ssl: OpenSSL) -> tuple[int, bytes]:
    """(tree size, root) of a checkpoint note signed by ``vkey``; ValueError naming what is wrong."""
    name, keyhash, raw = parse_vkey(vkey)
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise ValueError("not a signed note (text, blank line, signature lines)")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    signed = False
    for line in lines:
        fields = line.removeprefix("\u2014 ").split(" ")
        if not line.startswith("\u2014 ") or len(fields) != 2:
            raise ValueError(f"malformed signature line {line[:60]!r}")
        blob = base64.b64decode(fields[1], validate=True)
        if fields[0] == name and blob[:4] == keyhash:
            if not ssl.ed25519(raw, blob[4:], text.encode("utf-8")):
                raise ValueError(f"the signature by {name} does not verify: the note was altered")
            signed = True
    if not signed:
        raise ValueError(f"no signature by the key {name}+{keyhash.hex()}")
    body = text[:-1].split("\n")
    if len(body) < 3 or body[0] != name or not re.fullmatch(r"0|[1-9][0-9]{0,19}", body[1]):
        raise ValueError("not a checkpoint of this log (origin, decimal size, base64 root)")
    root = base64.b64decode(body[2], validate=True)
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    return int(body[1]), root


# --- reading the bag --------------------------------------------------------------------------------------


class Bag:
    """The files of one bag, from a zip or an unpacked folder; names are relative to the bag folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.files: dict[str, Any] = {}
        if path.is_dir():
            self.root = path.resolve().name
            for folder, dirs, names in os.walk(path):
                for name in dirs + names:
                    full = Path(folder) / name
                    if full.is_symlink():
                        raise BadInput(f"{full}: a symbolic link has no place in a bundle")
                    if full.is_file():
                        self.files[full.relative_to(path).as_posix()] = full
            return
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise BadInput(f"{path}: not a readable zip ({exc})") from None
        roots = set()
        for info in self.zip.infolist():
            parts = PurePosixPath(info.filename).parts
            if not parts or info.filename.startswith("/") or ".." in parts or "\\" in info.filename:
                raise BadInput(f"{path}: entry {info.filename!r} escapes the bundle folder")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise BadInput(f"{path}: entry {info.filename!r} is a symbolic link")
            roots.add(parts[0])
            if not info.is_dir() and len(parts) > 1:
                if "/".join(parts[1:]) in self.files:  # zip tools differ on which of the two they show
                    raise BadInput(f"{path}: entry {info.filename!r} appears twice")
                self.files["/".join(parts[1:])] = info
        if len(roots) != 1:
            raise BadInput(f"{path}: a bundle holds exactly one folder, this zip {len(roots)}")
        self.root = roots.pop()

    def open(self, name: str) -> IO[bytes]:
        if self.zip is not None:
            return self.zip.open(self.files[name])
        return open(self.files[name], "rb")

    def size(self, name: str) -> int:
        info = self.files[name]
        return int(info.file_size) if self.zip is not None else int(os.path.getsize(info))

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def text(self, name: str) -> str:
        return self.read(name).decode("utf-8")


def digests(bag: Bag, name: str) -> tuple[str, str, str, int]:
    """SHA-256, SHA-512 and BLAKE3 (hex) and the length of one file, in one pass."""
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    with bag.open(name) as fh:
        b3, size = hash_stream(fh, bag.size(name), name, sha256, sha512)
    return sha256.hexdigest(), sha512.hexdigest(), b3, size


def parse_manifest(text: str) -> dict[str, str]:
    """BagIt manifest: LF-ended lines "<digest><blanks><path>"; only %25 %0A %0D are decoded."""
    result: dict[str, str] = {}
    if text and not text.endswith("\n"):
        raise ValueError("last line does not end with LF")
    for line in text.split("\n")[:-1]:
        match = re.fullmatch(r"([0-9a-fA-F]+)[ \t]+(.+)", line, re.DOTALL)
        if not match:
            raise ValueError(f"malformed line {line[:60]!r}")
        path = re.sub(r"%(25|0A|0a|0D|0d)", lambda m: {"25": "%", "0a": "\n", "0d": "\r"}[m[1].lower()], match[2])
        if path in result:
            raise ValueError(f"lists {path} twice")
        result[path] = match[1].lower()
    return result


def legacy_payload_path(item_id: str, name: str) -> str:
    """Bundles without items.json "path": data/<item id>/<original name>, or the id for unusable names."""
    if not name or name in {".", ".."} or re.search(r"[\x00-\x1f/\\]", name) or len(name.encode()) > 200:
        name = item_id
    return f"data/{item_id}/{name}"


def event_time(text: object) -> datetime:
    """An event time, exactly YYYY-MM-DDTHH:MM:SS.ffffffZ (no other ISO-8601 spelling), as aware UTC."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                                                     r"\.[0-9]{6}Z", text):  # fmt: skip
        raise ValueError(f"time {text!r} is not ISO-8601 UTC of the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# --- the checks -----------------------------------------------------------------------------------------


class Verifier:
    def __init__(self, bag: Bag, ssl: OpenSSL) -> None:
        self.bag, self.ssl = bag, ssl
        self.checks: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {"bundle": bag.root}
        self.keys: dict[str, tuple[str, int, bytes, str]] = {}
        self.ended: dict[str, tuple[int, str]] = {}

    def add(self, check: str, subject: str, ok: bool, detail: str = "", warning: bool = False) -> None:
        self.checks.append({"check": check, "subject": subject, "ok": ok, "detail": detail, "warning": warning})

    def check_bag(self) -> dict[str, tuple[str, str]]:
        """Completeness and every digest; returns payload path -> (SHA-256, BLAKE3)."""
        bag = self.bag
        if not BUNDLE_ID.fullmatch(bag.root):
            self.add("bag", bag.root, False, "top-level folder is not a bundle id")
        for name in REQUIRED:
            if name not in bag.files:
                self.add("bag", name, False, "required file is missing")
        lists: dict[str, dict[str, str]] = {}
        for name in [*MANIFESTS, "tagmanifest-sha256.txt"]:
            try:
                lists[name] = parse_manifest(bag.text(name)) if name in bag.files else {}
            except (ValueError, UnicodeDecodeError) as exc:
                self.add("bag", name, False, f"malformed manifest: {exc}")
                lists[name] = {}
        for name in MANIFESTS:
            if name not in bag.files:
                self.add("bag", name, False, "required manifest is missing")
        payload = {n for n in bag.files if n.startswith("data/")}
        listed = set(lists["manifest-sha256.txt"]) | set(lists["manifest-sha512.txt"])
        tags = lists["tagmanifest-sha256.txt"]
        for name in sorted(payload - listed):
            self.add("bag", name, False, "payload file is in no manifest (added after sealing?)")
        for name in sorted(listed - payload):
            self.add("bag", name, False, "payload file listed in the manifest is missing")
        for name in sorted(set(bag.files) - payload - set(tags) - SEAL_FILES - {"tagmanifest-sha256.txt"}):
            self.add("bag", name, False, "tag file is in no manifest (added after sealing?)")
        hashed: dict[str, tuple[str, str]] = {}
        octets = 0
        for name in sorted(payload & listed):
            got256, got512, got_b3, size = digests(bag, name)
            octets += size
            hashed[name] = (got256, got_b3)
            # Both manifests list every payload file (a file missing from one fails, as a wrong digest does).
            ok = (lists["manifest-sha256.txt"].get(name), lists["manifest-sha512.txt"].get(name)) == (got256, got512)
            self.add("payload", name, ok, "SHA-256 and SHA-512 match" if ok else
                     "content differs from the manifests, or a manifest does not list it")  # fmt: skip
        bad = [n for n in sorted(tags) if n not in bag.files or hashlib.sha256(bag.read(n)).hexdigest() != tags[n]]
        for name in bad:
            self.add("tag-file", name, False, "missing or differs from the tag manifest")
        if not bad:
            self.add("tag-file", "tagmanifest-sha256.txt", True, f"{len(tags)} tag files match")
        info = bag.text("bag-info.txt") if "bag-info.txt" in bag.files else ""
        oxum = next((ln.split(":", 1)[1].strip() for ln in info.split("\n") if ln.startswith("Payload-Oxum:")), None)
        if oxum != f"{octets}.{len(payload)}":
            self.add("bag", "bag-info.txt", False, f"Payload-Oxum {oxum} is not {octets}.{len(payload)}")
        return hashed

    def load(self) -> tuple[list[dict[str, object]], list[dict[str, object]], dict[str, object]]:
        text = self.bag.text("custody/events.jsonl")
        if text and not text.endswith("\n"):
            raise ValueError("custody/events.jsonl does not end with LF")
        events = [json.loads(line) for line in text.split("\n")[:-1]]
        for e in events:
            if not isinstance(e, dict) or set(e) != {"seq", "time", "actor", "action", "item", "payload", "prev",
                                                     "sig"} or not isinstance(e["seq"], int) \
                    or not isinstance(e["payload"], dict) or not isinstance(e["actor"], str):  # fmt: skip
                raise ValueError("an events.jsonl line is not an event object")
        seqs = [e["seq"] for e in events]
        if seqs != sorted(set(seqs)):
            self.add("chain", "custody/events.jsonl", False, "events are not in strictly increasing seq order")
        records = json.loads(self.bag.text("custody/items.json"))
        proofs = json.loads(self.bag.text("custody/proofs.json"))
        if not isinstance(records, list) or not isinstance(proofs, dict):
            raise ValueError("items.json is not a list or proofs.json not an object")
        jcs(records)  # ValueError for a value with no canonical form, even outside a signed record
        return sorted(events, key=lambda e: int(e["seq"])), records, proofs

    def authority(self, events: list[dict[str, Any]]) -> dict[str, tuple[str, int, bytes, str]]:
        """Replay registrations and roles by log position; returns key id -> (role, seq, raw key, name)."""
        keys: dict[str, tuple[str, int, bytes, str]] = {}
        by_seq = {e["seq"]: e for e in events}
        first, second = by_seq.get(0), by_seq.get(1)
        if first is None or first["action"] != "archive.init" or second is None:
            self.add(
                "registration", "events 0-1", False, "archive.init and the first admin's actor.add are not carried"
            )
            return keys
        latest: datetime | None = None
        bad = 0
        ended = self.ended  # key id -> (seq of its revoke/rotate, how it ended)
        self.keys = keys
        signed: dict[str, list[int]] = {}  # key id -> seqs it signed
        for e in events:
            seq, action, actor, payload = e["seq"], e["action"], e["actor"], e["payload"]
            where = f"event {seq}"
            try:
                when = event_time(e["time"])
                if latest is not None and when < latest - TOLERANCE:
                    bad += 1
                    self.add("time", where, False, f"time {e['time']} is more than 5 minutes before an earlier event")
                latest = max(latest or when, when)
            except ValueError as exc:
                bad += 1
                self.add("time", where, False, str(exc))
            new_key: tuple[str, bytes] | None = None
            if action == "actor.add" and isinstance(payload, dict):
                try:
                    raw = raw_key_of_pem(str(payload.get("public_key")))
                    if (payload.get("key_id") == key_id(raw) and payload.get("key_id") not in keys
                            and payload.get("role") in GRANTS and isinstance(payload.get("name"), str)):  # fmt: skip
                        new_key = (key_id(raw), raw)
                except (ValueError, binascii.Error):
                    new_key = None
            if seq == 0:
                allowed = action == "archive.init"
                signer_ok = second["action"] == "actor.add" and second["actor"] == actor
            elif seq == 1:
                allowed = (action == "actor.add" and new_key is not None and new_key[0] == actor == first["actor"]
                           and payload.get("role") == "admin")  # fmt: skip
                signer_ok = allowed
            else:
                role = keys[actor][0] if actor in keys else None
                signer_ok = role is not None
                if actor in ended and seq > ended[actor][0]:
                    bad += 1
                    self.add("authority", where, False, f"signed by key {actor[:16]} after it was "
                             f"{ended[actor][1]} at event {ended[actor][0]}")  # fmt: skip
                    signed.setdefault(actor, []).append(seq)
                    continue
                if action == "refuse":
                    allowed = signer_ok
                elif action == "actor.add":
                    allowed = role is not None and "manage-actors" in GRANTS.get(role, set()) and new_key is not None
                else:
                    allowed = role is not None and action in NEEDS and NEEDS[action] in GRANTS.get(role, set())
            signed.setdefault(actor, []).append(seq)
            if not signer_ok:
                bad += 1
                self.add("authority", where, False, f"signer {actor[:16]} was not registered by an admin before it")
            elif not allowed:
                bad += 1
                reason = "unknown action" if action not in NEEDS and action not in ("refuse", "archive.init") else ""
                self.add("authority", where, False, reason or f"{action} is not allowed to this signer here")
            elif action in LIFECYCLE:
                problem = self.lifecycle(seq, action, payload if isinstance(payload, dict) else {}, keys, ended)
                if problem:
                    bad += 1
                    self.add("authority", where, False, problem)
                elif action == "actor.revoke" and payload.get("compromised_since") is not None:
                    since, target = payload["compromised_since"], payload["key_id"]
                    for number in signed.get(target, []):
                        if number >= since:
                            bad += 1
                            self.add("authority", f"event {number}", False, f"signed by a compromised key: key "
                                     f"{target[:16]} was declared compromised from event {since}")  # fmt: skip
            if allowed and new_key is not None:
                keys[new_key[0]] = (str(payload.get("role")), seq, new_key[1], str(payload.get("name")))
        if not bad:
            self.add("authority", "events.jsonl", True, f"{len(keys)} registered keys; every action allowed")
        return keys

    def lifecycle(self, seq: int, action: str, payload: Mapping[str, object],
                  keys: dict[str, tuple[str, int, bytes, str]], ended: dict[str, tuple[int, str]]) -> str:  # fmt: skip
        """Apply an allowed actor.revoke / actor.rotate / actor.role; the problem, or "" if it applied."""
        target = str(payload.get("old_key_id" if action == "actor.rotate" else "key_id"))
        if target not in keys or keys[target][1] >= seq:
            return f"{action} names key {target[:16]}, which no earlier carried event registered"
        if target in ended:
            return f"{action}: key {target[:16]} was already {ended[target][1]}"
        role, at, raw, name = keys[target]
        if payload.get("name") != name:
            return f"{action}: name is not the name key {target[:16]} holds"
        if action == "actor.role":
            if payload.get("role") not in GRANTS:
                return "actor.role: unknown role"
            keys[target] = (str(payload["role"]), at, raw, name)
        elif action == "actor.revoke":
            since = payload.get("compromised_since")
            if since is not None and (type(since) is not int or not 2 <= since < seq):
                return "actor.revoke: compromised_since must be an event before it"
            ended[target] = (seq, "revoked")
        else:
            try:
                new_raw = raw_key_of_pem(str(payload.get("public_key")))
                new_id = str(payload.get("key_id"))
                statement = jcs_bytes({"statement": "custody.actor.rotate", "name": name, "old_key_id": target,
                                       "key_id": new_id})  # fmt: skip
                possession = self.ssl.ed25519(new_raw, unb64(payload.get("possession")), statement)
                endorsement = payload.get("endorsement")
                endorsed = endorsement is None or self.ssl.ed25519(raw, unb64(endorsement), statement)
            except (ValueError, binascii.Error):
                return "actor.rotate registers nothing usable"
            if key_id(new_raw) != new_id or new_id in keys:
                return "actor.rotate: key_id is not the new key's id, or it is already registered"
            if not possession:
                return "actor.rotate: no proof of possession of the new key"
            if not endorsed:
                return "actor.rotate: the old key's endorsement does not verify"
            ended[target] = (seq, "retired by rotation")
            keys[new_id] = (role, seq, new_raw, name)
        return ""

    def signatures(self, events: list[dict[str, Any]], keys: dict[str, tuple[str, int, bytes, str]]) -> None:
        bad = 0
        previous: dict[str, Any] | None = None
        for e in events:
            known = keys.get(e["actor"])
            unsigned = {k: v for k, v in e.items() if k != "sig"}
            try:
                ok = known is not None and self.ssl.ed25519(known[2], unb64(e["sig"]), jcs_bytes(unsigned))
            except ValueError:
                ok = False
            if not ok:
                bad += 1
                self.add("event-signature", f"event {e['seq']}", False, "does not verify with a registered key")
            if e["seq"] == 0 and e["prev"] != GENESIS_PREV:
                self.add("chain", "event 0", False, "prev of event 0 is not 64 zeros")
            if previous is not None and previous["seq"] == e["seq"] - 1 and \
                    e["prev"] != hashlib.sha256(jcs_bytes(previous)).hexdigest():  # fmt: skip
                self.add("chain", f"event {e['seq']}", False, "prev does not hash the preceding event")
            previous = e
        if not bad:
            self.add("event-signature", "events.jsonl", True, f"{len(events)} event signatures verify")

    def key_files(self) -> None:
        """custody/keys/<key id>.pem are a convenience only, but each must hold the key its name says."""
        for name in sorted(n for n in self.bag.files if n.startswith("custody/keys/")):
            try:
                ok = key_id(raw_key_of_pem(self.bag.text(name))) == name[13:].removesuffix(".pem")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                ok = False
            if not ok:
                self.add("key", name, False, "file name is not the SHA-256 of the key it holds")

    def seal(self, events: list[dict[str, Any]], keys: dict[str, tuple[str, int, bytes, str]],
             records: list[Any]) -> None:  # fmt: skip
        bag = self.bag
        exports = [e for e in events if e["action"] == "export" and e["payload"].get("bundle_id") == bag.root]
        if not exports:
            self.add("export-event", bag.root, False, "events.jsonl has no export event for this bundle")
            return
        export = exports[0]
        try:
            raw = raw_key_of_pem(bag.text("custody/seal.pub.pem"))
            ok = self.ssl.ed25519(raw, bag.read("custody/seal.sig"), bag.read("tagmanifest-sha256.txt"))
        except (ValueError, KeyError, binascii.Error):
            ok, raw = False, b""
        if not ok:
            self.add("seal", "custody/seal.sig", False, "seal signature over tagmanifest-sha256.txt does not verify")
        elif key_id(raw) != export["actor"] or key_id(raw) not in keys:
            self.add(
                "seal", "custody/seal.pub.pem", False, "seal key is not the key of the actor who logged the export"
            )
        else:
            name = keys[key_id(raw)][3]
            self.add("seal", "custody/seal.sig", True, f"tag manifest sealed by {name} (key {key_id(raw)[:16]})")
            self.summary.update(sealed_by=name, seal_key=key_id(raw), export_time=export["time"],
                                export_seq=export["seq"])  # fmt: skip
        manifest = bag.read("manifest-sha256.txt") if "manifest-sha256.txt" in bag.files else b""
        ok = export["payload"].get("manifest_sha256") == hashlib.sha256(manifest).hexdigest()
        self.add("export-event", f"event {export['seq']}", ok,
                 "logged export names this payload manifest" if ok else
                 "payload manifest is not the one logged")  # fmt: skip
        # The export event names the items it discloses (their history shows it): exactly those are carried.
        carried = [e.get("record", {}).get("item_id") if isinstance(e, dict) else None for e in records]
        logged = export["payload"].get("items")
        ok = isinstance(logged, list) and sorted(map(str, carried)) == sorted(set(map(str, logged)))
        self.add("export-event", f"event {export['seq']}", ok, "items.json holds exactly the items the export logged"
                 if ok else "items.json does not hold exactly the items the export event logged")  # fmt: skip

    def records(
        self, records: list[Any], events: list[dict[str, Any]], keys: dict[str, Any], hashed: dict[str, tuple[str, str]]
    ) -> None:
        claimed: set[str] = set()
        for entry in records:
            record = entry.get("record") if isinstance(entry, dict) else None
            if not isinstance(record, dict):
                self.add("record-signature", "items.json", False, "an entry has no record")
                continue
            item = str(record.get("item_id"))
            ingest = next((e for e in events if e["item"] == item and e["action"] == "ingest"), None)
            text = jcs_bytes(record)
            ok = ingest is not None and ingest["payload"].get("record_sha256") == hashlib.sha256(text).hexdigest()
            self.add(
                "item-chain", item, ok, "ingest event binds the signed record" if ok else "no ingest event binds it"
            )
            signer = entry.get("signer")
            try:
                ok = (ingest is not None and signer == ingest["actor"] and signer in keys
                      and self.ssl.ed25519(keys[signer][2], unb64(entry.get("signature")), text))  # fmt: skip
            except ValueError:
                ok = False
            self.add(
                "record-signature",
                item,
                ok,
                "signed by the key that logged its ingest" if ok else "not signed by the key that logged its ingest",
            )
            if ingest is not None:  # who and when the record states are the logged ingest's signer and time
                try:
                    gap = abs(event_time(record.get("ingested_at")) - event_time(ingest["time"]))
                except ValueError:
                    gap = None
                ok = record.get("ingested_by") == ingest["actor"] and gap is not None and gap <= TOLERANCE
                self.add("item-chain", item, ok, "ingested_by and ingested_at are the logged ingest's" if ok else
                         "ingested_by or ingested_at is not the signer or time of the logged ingest")  # fmt: skip
            path = entry["path"] if "path" in entry else legacy_payload_path(item, str(record.get("original_name")))
            base = path[len(f"data/{item}/") :] if isinstance(path, str) else ""
            sha256, b3 = hashed.get(path, ("", "")) if isinstance(path, str) else ("", "")
            ok = (path.startswith(f"data/{item}/") and base not in ("", ".", "..") and "/" not in base
                  and sha256 == record.get("sha256") and path not in claimed)  # fmt: skip
            claimed.add(str(path))
            self.add("payload-record", item, ok, "payload SHA-256 matches the signed record" if ok else
                     f"{path} is missing or not the file of the signed record")  # fmt: skip
            if ok:  # the record signs the BLAKE3 too: a false one fails, as in custody's verify-bundle
                ok = b3 == record.get("blake3")
                self.add("payload-blake3", item, ok, "payload BLAKE3 matches the signed record" if ok else
                         f"the BLAKE3 of {path} is not the one the signed record states")  # fmt: skip
        for path in sorted(set(hashed) - claimed):
            self.add("payload-record", path, False, "no signed record in items.json vouches for this payload file")

    def cosigned(self, note: str, size: int) -> str:
        """Why the checkpoint lacks a cosignature by an actor key valid at its last event ("" if it has one)."""
        split = note.rfind("\n\n")
        text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
        last, problems = size - 1, []
        for line in lines:
            name, _, b64 = line.removeprefix("\u2014 ").partition(" ")
            if not name.startswith("custody.actor/"):
                continue
            kid = name[len("custody.actor/"):]
            blob = base64.b64decode(b64, validate=True)
            if kid not in self.keys:
                problems.append(f"co-signed by key {kid[:16]}, which no carried event registered")
                continue
            _role, at, raw, who = self.keys[kid]
            keyhash = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4]
            if blob[:4] != keyhash or not self.ssl.ed25519(raw, blob[4:], text.encode("utf-8")):
                problems.append(f"{who}'s cosignature does not verify")
            elif at > last:
                problems.append(f"co-signed by {who}'s key, registered after the tree")
            elif kid in self.ended and self.ended[kid][0] < last:
                problems.append(f"co-signed by {who}'s key, {self.ended[kid][1]} at event {self.ended[kid][0]}")
            else:
                return ""
        gone = sorted(seq for seq, _how in self.ended.values() if seq < last)
        if not problems and gone:
            problems.append(f"not co-signed by any actor's key, though a key ended at event {gone[0]}")
        return "; ".join(problems)

    def approvals(self, events: list[dict[str, Any]]) -> None:
        """Two-person export, replayed in seq order: configure export.approvals sets the policy (N); approvals and
        refusals must name an earlier export.request and not be signed by its requester; an export needing
        max(policy, payload.approvals_required) approvals names its request (same requester, items, purpose,
        recipients, withheld; not refused, not exported before) and lists carried approvals of it by that many
        distinct other signers."""
        policy, bad = 0, 0
        requests: dict[int, dict[str, Any]] = {}
        given: dict[int, dict[int, str]] = {}
        refused: set[int] = set()
        used: set[int] = set()
        for e in events:
            p, action, seq = e["payload"], e["action"], e["seq"]
            problem = ""
            if action == "configure" and p.get("setting") == "export.approvals":
                value = p.get("value")
                policy = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
            elif action == "export.request":
                requests[seq] = e
            elif action in ("export.approve", "export.reject"):
                req = requests.get(p.get("request")) if isinstance(p.get("request"), int) else None
                if req is None:
                    problem = f"{action} names no earlier export.request"
                elif req["actor"] == e["actor"]:
                    problem = f"{action} by the actor who made the request"
                elif action == "export.reject":
                    refused.add(req["seq"])
                else:
                    given.setdefault(req["seq"], {})[seq] = e["actor"]
            elif action == "export":
                stated = p.get("approvals_required")
                need = max(policy, stated if isinstance(stated, int) and not isinstance(stated, bool) else 0)
                req = requests.get(p.get("request")) if isinstance(p.get("request"), int) else None
                if p.get("request") is None:
                    problem = f"the export needed {need} approval(s) but names no request" if need else ""
                elif req is None:
                    problem = "the export names no carried export.request before it"
                elif req["actor"] != e["actor"] or req["seq"] in used or req["seq"] in refused:
                    problem = "the request was made by another actor, already exported, or refused"
                elif any(req["payload"].get(k) != p.get(k) for k in ("items", "purpose", "recipients", "withheld")):
                    problem = "the export's items, purpose, recipients or withheld fields differ from its request"
                else:
                    used.add(req["seq"])
                    asked = req["payload"].get("approvals_required")
                    need = max(need, asked if isinstance(asked, int) and not isinstance(asked, bool) else 0)
                    listed, mine = p.get("approvals"), given.get(req["seq"], {})
                    if not isinstance(listed, list) or any(not isinstance(x, int) or x not in mine for x in listed):
                        problem = "the export lists approvals that are not carried approvals of its request"
                    elif len({mine[x] for x in listed}) < need:
                        problem = f"the request needed {need} approval(s) by other actors"
            if problem:
                bad += 1
                self.add("export-approval", f"event {seq}", False, problem)

    def derivations(self, records: list[Any], events: list[dict[str, Any]]) -> None:
        """A record's derived_from {item_id, record_sha256, relation}: the source's carried ingest event binds
        record_sha256, a carried source record hashes to it, and a carried derive event on the source names the
        copy with the SHA-256 of its record and the same relation."""
        held = {str(r["record"].get("item_id")): hashlib.sha256(jcs_bytes(r["record"])).hexdigest() for r in records
                if isinstance(r, dict) and isinstance(r.get("record"), dict)}  # fmt: skip
        ingests: dict[str, str] = {}
        for e in events:
            if e["action"] == "ingest" and e["item"] is not None and e["item"] not in ingests:
                ingests[e["item"]] = str(e["payload"].get("record_sha256"))
        for entry in records:
            record = entry.get("record") if isinstance(entry, dict) else None
            link = record.get("derived_from") if isinstance(record, dict) else None
            if not isinstance(link, dict) or not isinstance(record, dict):
                continue
            item, source, signed = str(record.get("item_id")), str(link.get("item_id")), link.get("record_sha256")
            if ingests.get(source) != signed:
                problem = f"no carried ingest event of its source {source} binds the record it was derived from"
            elif source in held and held[source] != signed:
                problem = f"the carried record of its source {source} is not the one it was derived from"
            elif not any(e["action"] == "derive" and e["item"] == source and e["payload"].get("derived_item") == item
                         and e["payload"].get("record_sha256") == held[item]
                         and e["payload"].get("relation") == link.get("relation") for e in events):  # fmt: skip
                problem = f"no carried derive event of {source} names it with this record and relation"
            else:
                problem = ""
            self.add("derivation", item, not problem, problem or f"derived from {source}: link signed")

    def disclosures(self, records: list[Any], events: list[dict[str, Any]]) -> None:
        """custody/disclosures.json: {hex SHA-256(text): text}, text = JCS([salt, field, value]), salt >= 128 bits."""
        if "custody/disclosures.json" not in self.bag.files:
            return
        carried = json.loads(self.bag.text("custody/disclosures.json"))
        if not isinstance(carried, dict):
            raise ValueError("custody/disclosures.json is not an object")
        holders = [(str(r["record"].get("item_id")), r["record"]) for r in records
                   if isinstance(r, dict) and isinstance(r.get("record"), dict)]  # fmt: skip
        holders += [(f"acquire event {e['seq']}", e["payload"].get("acquisition")) for e in events
                    if e["action"] == "acquire"]  # fmt: skip
        holders += [(f"correct event {e['seq']}", e["payload"]) for e in events if e["action"] == "correct"]
        committed: dict[str, tuple[str, str]] = {}
        for where, holder in holders:
            section = holder.get("withholdable") if isinstance(holder, dict) else None
            digests = section.get("digests") if isinstance(section, dict) else None
            for field, digest in digests.items() if isinstance(digests, dict) else []:
                committed.setdefault(str(digest), (str(field), where))
        export = next((e for e in events if e["action"] == "export" and e["payload"].get("bundle_id") == self.bag.root),
                      None)  # fmt: skip
        withheld = set(export["payload"].get("withheld") or []) if export else set()
        bad = 0
        for digest, text in sorted(carried.items()):
            problem = ""
            value = json.loads(text) if isinstance(text, str) else None
            if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value[:2])):
                problem = "not a disclosure [salt, field, value]"
            elif len(value[0]) < 22 or jcs(value) != text:
                problem = "salt under 128 bits or not in canonical form"
            elif hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
                problem = "the value does not hash to its digest"
            elif digest not in committed or committed[digest][0] != value[1]:
                problem = f"no carried record or acquire event commits to this digest for {value[1]}"
            elif value[1] in withheld:
                problem = f"the export withholds {value[1]}, but the bundle discloses it"
            if problem:
                bad += 1
                self.add("disclosure", str(digest)[:16], False, problem)
        if not bad:
            self.add("disclosure", "custody/disclosures.json", True,
                     f"{len(carried)} disclosed values match their signed digests")  # fmt: skip

    def log(self, events: list[dict[str, Any]], proofs: dict[str, Any], vkey_pin: str | None,
            against: list[tuple[str, str]]) -> None:  # fmt: skip
        vkey = self.bag.text("custody/vkey.txt").strip()
        genesis = events[0]["payload"] if events and events[0]["seq"] == 0 else {}
        try:
            origin, _, raw = parse_vkey(vkey)
            from_pem = raw_key_of_pem(str(genesis.get("archive_public_key")))
            ok = genesis.get("vkey") == vkey and from_pem == raw and genesis.get("origin") == origin
        except (ValueError, binascii.Error):
            ok = False
        self.add("archive-identity", "custody/vkey.txt", ok,
                 "equals the key of the signed archive.init" if ok else
                 "is not the key the log's event 0 states")  # fmt: skip
        try:
            size, root = open_checkpoint(self.bag.text("custody/checkpoint.txt"), vkey, self.ssl)
        except (ValueError, binascii.Error) as exc:
            self.add("checkpoint", "custody/checkpoint.txt", False, str(exc))
            return
        self.summary.update(checkpoint_size=size, checkpoint_root=root.hex())
        problem = self.cosigned(self.bag.text("custody/checkpoint.txt"), size)
        if problem:
            self.add("checkpoint", "custody/checkpoint.txt", False, problem)
            return
        self.add("checkpoint", "custody/checkpoint.txt", True, f"signed by {vkey.split('+')[0]}, tree size {size}")
        failed = 0
        for e in events:
            try:
                path = [bytes.fromhex(h) for h in proofs.get("inclusion", {}).get(str(e["seq"]), [])]
                ok = inclusion_ok(leaf_hash(jcs_bytes(e)), e["seq"], size, path, root)
            except (ValueError, TypeError, AttributeError):
                ok = False
            if not ok:
                failed += 1
                self.add("inclusion", f"event {e['seq']}", False, "not proven to be in the signed log")
        if not failed:
            self.add("inclusion", "events.jsonl", True, f"{len(events)} events proven in the log of size {size}")
        anchors = []
        if vkey_pin is not None:
            ok = vkey_pin.strip() == vkey
            anchors.append("--vkey")
            self.add("archive-identity", "--vkey", ok, "the pinned key signed this log" if ok else
                     "the bundle's log is signed by another key than the one you pinned")  # fmt: skip
        for label, text in against:
            anchors.append(f"--against-checkpoint {label}")
            try:
                theirs, old_root = open_checkpoint(text, vkey, self.ssl)
                path = [bytes.fromhex(h) for h in proofs.get("consistency", {}).get(str(theirs), [])]
                ok = theirs <= size and (old_root == root if theirs == size else
                                         consistency_ok(theirs, size, old_root, root, path))  # fmt: skip
                detail = f"the bundle's log {'extends' if ok else 'does not extend'} your checkpoint of size {theirs}"
            except (ValueError, binascii.Error, AttributeError) as exc:
                ok, detail = False, f"{exc} (is it from this archive?)"
            self.add("against-checkpoint", label, ok, detail)
        if not anchors:
            self.add("archive-identity", "trust anchor", True, "archive identity NOT checked: pass --vkey FILE or "
                     "--against-checkpoint FILE obtained independently of this bundle", warning=True)  # fmt: skip
        self.summary["anchors"] = anchors

    def token(self, name: str, data: str, certs: str, not_before: datetime | None, tsa_ca: str | None) -> None:
        bag = self.bag
        with tempfile.TemporaryDirectory() as tmp:
            for n in (name, data, certs):
                if n in bag.files:
                    (Path(tmp) / n.replace("/", "_")).write_bytes(bag.read(n))
            tsr, dat, crt = (str(Path(tmp) / n.replace("/", "_")) for n in (name, data, certs))
            text = self.ssl.run("ts", "-reply", "-in", tsr, "-text").stdout
            when = re.search(r"Time stamp: (\w{3} +\d+ [\d:]+)(?:\.\d+)? (\d{4}) GMT", text)
            # "Message data:" is a hex dump, 16 bytes a line ("0000 - 5e 88 ...-51 d0 ...   ascii"); SHA-256 is 2 lines.
            dump = text.partition("Message data:")[2]
            rows = re.findall(r"^ +[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){16})", dump, re.MULTILINE)[:2]
            imprint = "".join(rows).replace(" ", "").replace("-", "")
            if when is None or imprint != hashlib.sha256(bag.read(data)).hexdigest():
                self.add("timestamp", name, False, "not a token over this file")
                return
            gen = datetime.strptime(f"{when[1]} {when[2]}", "%b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc)
            acc = re.search(r"Accuracy: (\S+) seconds", text)
            slack = timedelta(seconds=1 + (int(acc[1], 0) if acc and acc[1] != "unspecified" else 0))
            if not_before is not None and gen + slack < not_before:
                self.add("timestamp", name, False, f"attested time {gen:%Y-%m-%dT%H:%M:%SZ} is before what it covers")
                return
            if tsa_ca is None:
                self.add("timestamp", name, True, f"attested {gen:%Y-%m-%dT%H:%M:%SZ} (chain NOT checked: pass "
                         "--tsa-ca)", warning=True)  # fmt: skip
                return
            proc = self.ssl.run("ts", "-verify", "-data", dat, "-in", tsr, "-CAfile", tsa_ca, "-untrusted", crt,
                                "-attime", str(int(gen.timestamp())))  # fmt: skip
            ok = "Verification: OK" in proc.stdout
            self.add("timestamp", name, ok, f"attested {gen:%Y-%m-%dT%H:%M:%SZ} (chain checked)" if ok else
                     "not signed by a TSA chaining to the given CA")  # fmt: skip

    def timestamps(self, events: Sequence[Mapping[str, object]], tsa_ca: str | None) -> None:
        export = self.summary.get("export_time")
        if "custody/seal.tsr" in self.bag.files:
            self.token("custody/seal.tsr", "custody/seal.sig", "custody/seal.tsa-certs.pem",
                       event_time(export) if export else None, tsa_ca)  # fmt: skip
        else:
            self.add("timestamp", "custody/seal.tsr", True, "absent: the seal proves who sealed the bundle, not when",
                     warning=True)  # fmt: skip
        if "custody/checkpoint.tsr" in self.bag.files:
            size = self.summary.get("checkpoint_size", 0)
            covered = [e for e in events if e["seq"] < size]
            self.token("custody/checkpoint.tsr", "custody/checkpoint.txt", "custody/checkpoint.tsa-certs.pem",
                       event_time(covered[-1]["time"]) if covered else None, tsa_ca)  # fmt: skip


def verify(path: Path, work: Path, vkey_pin: str | None, against: list[tuple[str, str]],
           tsa_ca: str | None) -> Verifier:  # fmt: skip
    v = Verifier(Bag(path), OpenSSL(work))
    hashed = v.check_bag()
    try:
        events, records, proofs = v.load()
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        v.add("bag", "custody/", False, f"custody files are malformed or missing: {exc}")
        return v
    v.summary.update(items=len(records), events=len(events), tsa_root=tsa_ca)
    keys: dict[str, tuple[str, int, bytes, str]] = {}
    stages: list[Callable[[], object]] = [
        v.key_files,
        lambda: keys.update(v.authority(events)),
        lambda: v.signatures(events, keys),
        lambda: v.seal(events, keys, records),
        lambda: v.records(records, events, keys, hashed),
        lambda: v.disclosures(records, events),
        lambda: v.derivations(records, events),
        lambda: v.approvals(events),
        lambda: v.log(events, proofs, vkey_pin, against),
        lambda: v.timestamps(events, tsa_ca),
    ]
    for stage in stages:
        try:
            stage()
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError) as exc:
            # A hostile bundle may hold anything where a format says otherwise: that is a failure, not a crash.
            v.add("bag", "custody/", False, f"custody files are malformed or missing: {exc!r}")
    return v


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(21)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Check a custody bundle with the standard library and openssl.")
    parser.add_argument("bundle", type=Path, help="the bundle: a .zip, a .zip.age, or the folder it unpacks to")
    parser.add_argument("--vkey", type=Path, help="the archive's verifier key, obtained independently")
    parser.add_argument("--against-checkpoint", type=Path, action="append", default=[],
                        help="a checkpoint the archive published, obtained independently (repeatable)")  # fmt: skip
    parser.add_argument("--tsa-ca", type=Path, help="the TSA's root certificate, obtained from the TSA")
    parser.add_argument("--identity", type=Path, help="age identity file, for an encrypted bundle")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="verify-bundle-") as tmp:
            work, path = Path(tmp), args.bundle
            if path.is_file() and _head(path) == b"age-encryption.org/v1":
                if args.identity is None:
                    raise BadInput(f"{path} is age-encrypted: pass --identity AGE_KEY_FILE (needs the age command)")
                path = work / "bundle.zip"
                proc = subprocess.run(["age", "-d", "-i", str(args.identity), "-o", str(path), str(args.bundle)],
                                      capture_output=True, text=True)  # fmt: skip
                if proc.returncode != 0:
                    raise BadInput(f"{args.bundle}: age could not decrypt it ({proc.stderr.strip()})")
            if not path.exists():
                raise BadInput(f"{path}: no such file or folder")
            pin = _read_own(args.vkey, "the verifier key") if args.vkey else None
            against = [(str(p), _read_own(p, "the checkpoint note")) for p in args.against_checkpoint]
            if args.tsa_ca is not None and not args.tsa_ca.is_file():
                raise BadOwnFile(f"{args.tsa_ca}: no such TSA root certificate file; check the path")
            v = verify(path, work, pin, against, str(args.tsa_ca.resolve()) if args.tsa_ca else None)
    except BadOwnFile as exc:
        print(f"error: {exc}", file=sys.stderr)  # the court's own file: the sender cannot help
        return 2
    except (BadInput, OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        print(f"error: {exc} (the bundle cannot be read; ask the sender for it again)", file=sys.stderr)
        return 2
    failures = [c for c in v.checks if not c["ok"]]
    if args.json:
        print(json.dumps({"ok": not failures, "failures": len(failures), "checks": v.checks, "summary": v.summary},
                         indent=1, ensure_ascii=False))  # fmt: skip
    else:
        s = v.summary
        print(f"Bundle {s['bundle']} ({args.bundle})")
        print(f"Sealed by {s.get('sealed_by', '?')} (key {s.get('seal_key', '?')}) at {s.get('export_time', '?')}")
        print(f"{s.get('items', '?')} items, {s.get('events', '?')} events; checkpoint tree size "
              f"{s.get('checkpoint_size', '?')}, root {s.get('checkpoint_root', '?')}")  # fmt: skip
        print(f"Trust anchors used: {', '.join(s.get('anchors') or []) or 'none (archive identity NOT checked)'}; "
              f"TSA root: {s.get('tsa_root') or 'none (token chains NOT checked)'}")  # fmt: skip
        for c in v.checks:
            verdict = "FAIL" if not c["ok"] else "WARN" if c["warning"] else "ok"
            print(f"{verdict:4}  {c['check']:18} {c['subject']}: {c['detail']}")
        print("ALL CHECKS PASSED" if not failures else f"{len(failures)} CHECK(S) FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
