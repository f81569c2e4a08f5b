"""The bulk event-signature check (libsodium) agrees with the signatures custody makes (OpenSSL)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from custody.keys import raw_public
from custody.log.sigcheck import bad_signatures

_KEY = Ed25519PrivateKey.generate()
_OTHER = Ed25519PrivateKey.generate()
_RAW = raw_public(_KEY.public_key())


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=2000))
def test_a_signature_made_with_cryptography_passes(data: bytes) -> None:
    assert bad_signatures([(7, _RAW, _KEY.sign(data), data)]) == []


def test_a_changed_message_fails() -> None:
    assert bad_signatures([(3, _RAW, _KEY.sign(b"event"), b"evenT")]) == [3]


def test_a_signature_by_another_key_fails() -> None:
    assert bad_signatures([(4, _RAW, _OTHER.sign(b"event"), b"event")]) == [4]


def test_a_signature_of_the_wrong_length_fails_instead_of_raising() -> None:
    assert bad_signatures([(5, _RAW, b"", b"event"), (6, _RAW, _KEY.sign(b"event")[:63], b"event")]) == [5, 6]


def test_only_the_failing_seqs_of_a_batch_are_named() -> None:
    jobs = [(seq, _RAW, _KEY.sign(b"%d" % seq), b"%d" % seq) for seq in range(10)]
    jobs[4] = (4, _RAW, _KEY.sign(b"4"), b"tampered")
    jobs[8] = (8, _RAW, _OTHER.sign(b"8"), b"8")
    assert bad_signatures(jobs) == [4, 8]
