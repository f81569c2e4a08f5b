"""Signed notes and checkpoints follow c2sp.org/signed-note and c2sp.org/tlog-checkpoint to the byte."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.errors import ProofError
from custody.log import note

# --- An independent minimal verifier, written from c2sp.org/signed-note (it does not use note.py) ---


def spec_open(signed: str, verifier_key: str) -> str:
    """Return the text of ``signed`` if it carries a valid signature by ``verifier_key``; assert otherwise."""
    name, key_id_hex, key_b64 = verifier_key.split("+", 2)
    typed_key = base64.b64decode(key_b64, validate=True)
    assert typed_key[0] == 0x01 and len(typed_key) == 33, "Ed25519 keys are 0x01 || 32 bytes"
    key_id = hashlib.sha256(name.encode() + b"\x0a" + typed_key).digest()[:4]
    assert key_id.hex() == key_id_hex.lower()
    public_key = Ed25519PublicKey.from_public_bytes(typed_key[1:])
    assert all(c == "\n" or ord(c) >= 0x20 for c in signed), "no control characters other than newline"
    cut = signed.rindex("\n\n")  # the last blank line separates text and signatures
    text, signature_lines = signed[: cut + 1], signed[cut + 2 :]
    assert signature_lines.endswith("\n")
    verified = 0
    for line in signature_lines[:-1].split("\n"):
        assert line[0] == "\u2014" and line[1] == " "
        line_name, encoded = line[2:].split(" ")
        blob = base64.b64decode(encoded, validate=True)
        if line_name == name and blob[:4] == key_id:
            public_key.verify(blob[4:], text.encode())  # raises InvalidSignature
            verified += 1
    assert verified, "no signature by the key"
    return text


# --- Known-answer vectors from golang.org/x/mod, sumdb/note/note_test.go (TestSign, TestOpen) ---------

GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_PETER_SIG

# The example checkpoint of c2sp.org/tlog-checkpoint (its signing key is not published).
C2SP_CHECKPOINT_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def go_peter_key() -> Ed25519PrivateKey:
    # The Go signer key is PRIVATE+KEY+name+id+base64(0x01 || 32-byte Ed25519 seed).
    typed_seed = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])
    assert typed_seed[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(typed_seed[1:])


def raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    assert note.sign_note(GO_TEXT, "PeterNeumann", go_peter_key()) == GO_NOTE


def test_vkey_and_key_id_reproduce_the_go_reference_key() -> None:
    public_key = go_peter_key().public_key()
    assert note.key_hash("PeterNeumann", public_key).hex() == "c74f20a3"
    assert note.vkey("PeterNeumann", public_key) == GO_PETER_VKEY


def test_the_go_reference_note_opens() -> None:
    assert note.open_note(GO_NOTE, GO_PETER_VKEY) == GO_TEXT


def test_a_note_with_two_signers_opens_for_either_key() -> None:
    both = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    assert note.open_note(both, GO_PETER_VKEY) == GO_TEXT
    assert note.open_note(both, GO_ENOCH_VKEY) == GO_TEXT


def test_a_note_without_a_signature_by_the_key_is_rejected() -> None:
    with pytest.raises(ProofError, match="no signature by"):
        note.open_note(GO_NOTE, GO_ENOCH_VKEY)


def test_a_corrupted_go_signature_is_rejected() -> None:
    corrupted = GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    with pytest.raises(ProofError, match="invalid"):
        note.open_note(corrupted, GO_PETER_VKEY)


def test_an_altered_text_is_rejected() -> None:
    with pytest.raises(ProofError, match="invalid"):
        note.open_note(GO_NOTE.replace("cryptography", "cryptographY"), GO_PETER_VKEY)


@pytest.mark.parametrize(
    "malformed",
    [
        GO_TEXT,  # no signatures
        GO_TEXT + "\n",  # blank line but no signatures
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],  # missing final newline
        "\x01" + GO_NOTE,  # control character
        GO_TEXT + "\n" + GO_PETER_SIG.replace("PeterNeumann", "Bad Name"),  # space in the key name
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + GO_PETER_SIG * 101,  # too many signatures
    ],
)
def test_go_malformed_notes_are_rejected(malformed: str) -> None:
    with pytest.raises(ProofError):
        note.open_note(malformed, GO_PETER_VKEY)


def test_every_mangling_of_the_go_vkey_is_rejected() -> None:
    assert note.parse_vkey(GO_PETER_VKEY)[0] == "PeterNeumann"
    manglings = {GO_PETER_VKEY[i:j] for i in range(len(GO_PETER_VKEY)) for j in range(i + 1, len(GO_PETER_VKEY) + 1)}
    manglings |= {GO_PETER_VKEY[:i] + chr(ord(c) + 1) + GO_PETER_VKEY[i + 1 :] for i, c in enumerate(GO_PETER_VKEY)}
    # Wrong key length and unknown algorithm, each with a key ID recomputed to match (also from the Go tests).
    manglings |= {
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    }
    manglings.discard(GO_PETER_VKEY)
    for mangled in manglings:
        with pytest.raises(ProofError):
            note.parse_vkey(mangled)


def test_the_c2sp_example_checkpoint_parses() -> None:
    checkpoint = note.parse_checkpoint(C2SP_CHECKPOINT_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert base64.b64encode(checkpoint.root).decode() == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    assert checkpoint.extensions == ()
    assert checkpoint.body() == C2SP_CHECKPOINT_BODY


# --- Our own notes ---------------------------------------------------------------------------------

ORIGIN = "custody.example/archive-7"


@pytest.fixture(scope="module")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def log_vkey(log_key: Ed25519PrivateKey) -> str:
    return note.vkey(ORIGIN, log_key.public_key())


def signed_checkpoint(key: Ed25519PrivateKey, size: int = 42, root: bytes = bytes(range(32))) -> str:
    return note.sign_note(note.Checkpoint(ORIGIN, size, root).body(), ORIGIN, key)


def test_checkpoint_body_is_three_lines_then_extensions() -> None:
    root = hashlib.sha256(b"root").digest()
    body = note.Checkpoint("o.example/l", 7, root, ("ext one", "ext two")).body()
    assert body == f"o.example/l\n7\n{base64.b64encode(root).decode()}\next one\next two\n"


def test_checkpoint_round_trips_through_a_signed_note(log_key: Ed25519PrivateKey, log_vkey: str) -> None:
    signed = signed_checkpoint(log_key, 123456, hashlib.sha256(b"x").digest())
    assert note.open_checkpoint(signed, log_vkey) == note.Checkpoint(ORIGIN, 123456, hashlib.sha256(b"x").digest())


def test_our_notes_pass_the_independent_spec_verifier(log_key: Ed25519PrivateKey, log_vkey: str) -> None:
    signed = signed_checkpoint(log_key)
    assert spec_open(signed, log_vkey) == note.Checkpoint(ORIGIN, 42, bytes(range(32))).body()


name_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="+")
line_chars = st.characters(blacklist_categories=("Cc", "Cs"))


@settings(max_examples=50, deadline=None)
@given(
    origin=st.text(name_chars, min_size=1, max_size=40).filter(lambda s: not any(c.isspace() for c in s)),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(line_chars, min_size=1, max_size=30), max_size=3),
)
def test_any_checkpoint_round_trips_and_meets_the_spec(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(origin.encode()).digest())
    checkpoint = note.Checkpoint(origin, size, root, tuple(extensions))
    signed = note.sign_note(checkpoint.body(), origin, key)
    verifier_key = note.vkey(origin, key.public_key())
    assert spec_open(signed, verifier_key) == checkpoint.body()
    assert note.open_checkpoint(signed, verifier_key) == checkpoint


@pytest.mark.parametrize(
    ("old", "new"),
    [("\n42\n", "\n43\n"), ("\n42\n", "\n4200\n"), ("AAECAwQF", "AQECAwQF"), (ORIGIN, "custody.example/archive-8")],
    ids=["size", "size-digits", "root", "origin"],
)
def test_a_checkpoint_altered_after_signing_fails(
    log_key: Ed25519PrivateKey, log_vkey: str, old: str, new: str
) -> None:
    signed = signed_checkpoint(log_key)
    text = signed[: signed.index("\n\n") + 1]
    assert old in text
    altered = text.replace(old, new, 1) + signed[len(text) :]
    with pytest.raises(ProofError):
        note.open_checkpoint(altered, log_vkey)


def test_a_checkpoint_signed_by_another_key_fails(log_vkey: str) -> None:
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(ProofError, match="no signature by"):
        note.open_checkpoint(signed_checkpoint(impostor), log_vkey)


def test_a_checkpoint_of_another_origin_fails_even_if_the_signature_holds(log_key: Ed25519PrivateKey) -> None:
    body = note.Checkpoint("other.example/log", 5, bytes(32)).body()
    signed = note.sign_note(body, ORIGIN, log_key)
    verifier_key = note.vkey(ORIGIN, log_key.public_key())
    assert note.open_note(signed, verifier_key) == body
    with pytest.raises(ProofError, match="origin"):
        note.open_checkpoint(signed, verifier_key)


def test_an_unknown_witness_cosignature_is_tolerated(log_key: Ed25519PrivateKey, log_vkey: str) -> None:
    signed = signed_checkpoint(log_key)
    text = signed[: signed.index("\n\n") + 1]
    witness = note.sign_note(text, "witness.example/w1", Ed25519PrivateKey.generate())
    cosigned = signed + witness[len(text) + 1 :]
    assert cosigned.count("\u2014 ") == 2
    assert note.open_checkpoint(cosigned, log_vkey).size == 42
    assert spec_open(cosigned, log_vkey) == text


def test_a_line_from_an_unknown_key_sharing_our_name_is_ignored(log_key: Ed25519PrivateKey, log_vkey: str) -> None:
    signed = signed_checkpoint(log_key)
    text = signed[: signed.index("\n\n") + 1]
    namesake = note.sign_note(text, ORIGIN, Ed25519PrivateKey.generate())
    assert note.open_checkpoint(namesake[:-1] + "\n" + signed[len(text) + 1 :], log_vkey).size == 42


def test_a_bad_signature_from_our_key_spoils_the_note_even_beside_a_good_one(
    log_key: Ed25519PrivateKey, log_vkey: str
) -> None:
    signed = signed_checkpoint(log_key)
    good_line = signed[signed.index("\n\n") + 2 :]
    blob = base64.b64decode(good_line.split(" ")[2])
    bad_line = f"\u2014 {ORIGIN} {base64.b64encode(blob[:-1] + bytes([blob[-1] ^ 1])).decode()}\n"
    with pytest.raises(ProofError, match="invalid"):
        note.open_checkpoint(signed + bad_line, log_vkey)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.replace("\n\n", "\n", 1),  # no blank line
        lambda s: s[:-1],  # missing final newline
        lambda s: s[:-3] + "!!\n",  # bad base64
        lambda s: s.replace("\n", "\r\n"),  # Windows line endings
        lambda s: s.replace("\u2014 ", "- ", 1),  # hyphen instead of em dash
        lambda s: s.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}  ", 1),  # double space
        lambda s: s.replace(f"\u2014 {ORIGIN} ", "\u2014  ", 1),  # empty key name
        lambda s: s + "\u2014 w+x AAAAAAAA\n",  # '+' in a key name
        lambda s: s + "\u2014 w AAAA\n",  # signature too short to hold a key ID
        lambda s: s.replace("\n42\n", "\n4\t2\n", 1),  # control character in the text
    ],
    ids=["no-blank", "no-final-newline", "base64", "crlf", "hyphen", "double-space", "no-name", "plus", "short", "tab"],
)
def test_malformed_notes_fail(log_key: Ed25519PrivateKey, log_vkey: str, mangle: Callable[[str], str]) -> None:
    with pytest.raises(ProofError):
        note.open_checkpoint(mangle(signed_checkpoint(log_key)), log_vkey)


@pytest.mark.parametrize(
    "body",
    [
        "o.example/l\n42\n" + base64.b64encode(bytes(32)).decode(),  # no final newline
        "o.example/l\n42\n",  # no root line
        "\n42\n" + base64.b64encode(bytes(32)).decode() + "\n",  # empty origin
        "o.example/l\n042\n" + base64.b64encode(bytes(32)).decode() + "\n",  # leading zero
        "o.example/l\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o.example/l\n+1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o.example/l\n 1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o.example/l\n\u0664\u0662\n" + base64.b64encode(bytes(32)).decode() + "\n",  # Arabic-Indic digits
        "o.example/l\n18446744073709551616\n" + base64.b64encode(bytes(32)).decode() + "\n",  # 2**64
        "o.example/l\n" + "9" * 5000 + "\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o.example/l\n42\n" + base64.b64encode(bytes(31)).decode() + "\n",  # short root
        "o.example/l\n42\nnot base64!\n",
        "o.example/l\n42\n" + base64.b64encode(bytes(32)).decode() + "\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoints_fail(body: str) -> None:
    with pytest.raises(ProofError):
        note.parse_checkpoint(body)


def test_checkpoint_size_limits_are_inclusive() -> None:
    root_line = base64.b64encode(bytes(32)).decode()
    assert note.parse_checkpoint(f"o\n0\n{root_line}\n").size == 0
    assert note.parse_checkpoint(f"o\n18446744073709551615\n{root_line}\n").size == 2**64 - 1


def test_impossible_checkpoints_cannot_be_built() -> None:
    for args in [("", 1, bytes(32)), ("a\nb", 1, bytes(32)), ("o", -1, bytes(32)), ("o", 1, bytes(31))]:
        with pytest.raises(ProofError):
            note.Checkpoint(*args)
    with pytest.raises(ProofError):
        note.Checkpoint("o", 1, bytes(32), ("",))


def test_vkey_round_trips(log_key: Ed25519PrivateKey) -> None:
    name, key_id, public_key = note.parse_vkey(note.vkey(ORIGIN, log_key.public_key()))
    assert name == ORIGIN
    assert key_id == note.key_hash(ORIGIN, log_key.public_key())
    assert raw(public_key) == raw(log_key.public_key())


@pytest.mark.parametrize("name", ["", "two words", "a+b", "tab\there", "nbsp\u00a0here"])
def test_bad_key_names_are_refused(log_key: Ed25519PrivateKey, name: str) -> None:
    with pytest.raises(ProofError):
        note.vkey(name, log_key.public_key())
    with pytest.raises(ProofError):
        note.sign_note("text\n", name, log_key)


def test_note_text_must_end_with_a_newline(log_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ProofError, match="newline"):
        note.sign_note("no newline", ORIGIN, log_key)


def test_note_text_may_contain_blank_lines(log_key: Ed25519PrivateKey) -> None:
    text = "first paragraph\n\nsecond paragraph\n\n"
    signed = note.sign_note(text, ORIGIN, log_key)
    verifier_key = note.vkey(ORIGIN, log_key.public_key())
    assert note.open_note(signed, verifier_key) == text
    assert spec_open(signed, verifier_key) == text


def test_a_validly_signed_note_with_a_control_character_is_rejected(log_key: Ed25519PrivateKey, log_vkey: str) -> None:
    text = "custody.example/archive-7\n42\r\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    blob = note.key_hash(ORIGIN, log_key.public_key()) + log_key.sign(text.encode())
    hand_made = f"{text}\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(ProofError, match="control character"):
        note.open_note(hand_made, log_vkey)
    with pytest.raises(ProofError, match="control character"):
        note.sign_note(text, ORIGIN, log_key)
