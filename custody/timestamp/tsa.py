"""Talking to an RFC 3161 time-stamp authority and checking what it answers (via rfc3161-client)."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from ..errors import TimestampError
from ..timeutil import iso

_SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
# A TSA may state genTime to the second only (RFC 3161 allows it): allow that much rounding
# on top of the accuracy it declares when asking whether the token came after an event.
_PRECISION = timedelta(seconds=1)
# Tests and on-premises TSAs listen on loopback; a proxy from the environment must not intercept them.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Token:
    """A granted time-stamp response over some bytes, with the nonce our request carried."""

    response: bytes
    nonce: int
    gen_time: datetime
    tsa_url: str


@dataclass(frozen=True)
class Attestation:
    """What a checked token attests: when, by whom, and whether its chain was checked."""

    gen_time: datetime
    tsa: str
    serial: int
    chain_checked: bool

    def describe(self) -> str:
        chain = "chain checked" if self.chain_checked else "chain NOT checked: pass --tsa-ca"
        return f"attested {iso(self.gen_time)} by {self.tsa} (serial {self.serial}; {chain})"


def load_roots(path: Path) -> list[x509.Certificate]:
    """The trusted TSA root certificate(s) in a PEM file."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise TimestampError(f"{path}: cannot read the TSA CA file ({exc.strerror or exc})") from None
    except ValueError:
        raise TimestampError(f"{path}: not a PEM certificate file; give the TSA's root CA certificate") from None
    if not certs:
        raise TimestampError(f"{path}: holds no certificate; give the TSA's root CA certificate")
    return certs


def parse_response(data: bytes, source: str) -> TimeStampResponse:
    """Decode a DER time-stamp response; TimestampError naming ``source`` if it is not one."""
    try:
        return decode_timestamp_response(data)
    except ValueError as exc:
        raise TimestampError(f"{source}: not an RFC 3161 time-stamp response ({exc})") from None


def _status_text(resp: TimeStampResponse) -> str:
    try:
        name = PKIStatus(resp.status).name.lower()
    except ValueError:
        name = f"status {resp.status}"
    detail = "; ".join(resp.status_string)
    return name + (f" ({detail})" if detail else "")


def request_token(url: str, data: bytes, *, timeout: float, roots: list[x509.Certificate] | None) -> Token:
    """Ask the TSA at ``url`` for a token over SHA-256(``data``), with a nonce and its certificate."""
    request = TimestampRequestBuilder(data=data, hash_algorithm=HashAlgorithm.SHA256, nonce=True, cert_req=True).build()
    http = urllib.request.Request(
        url, data=request.as_bytes(), headers={"Content-Type": "application/timestamp-query"}, method="POST"
    )
    try:
        with _DIRECT.open(http, timeout=timeout) as reply:
            body = reply.read()
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"time-stamp authority {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"time-stamp authority {url} is unreachable ({reason})") from None
    resp = parse_response(body, f"the answer of {url}")
    if resp.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampError(f"time-stamp authority {url} refused the request: {_status_text(resp)}")
    nonce = request.nonce
    assert nonce is not None  # the builder was asked for one
    attest = check_token(resp, data, roots=roots, nonce=nonce, source=f"the token from {url}")
    return Token(response=body, nonce=nonce, gen_time=attest.gen_time, tsa_url=url)


def check_token(
    resp: TimeStampResponse,
    data: bytes,
    *,
    roots: list[x509.Certificate] | None,
    source: str,
    nonce: int | None = None,
    not_before: datetime | None = None,
) -> Attestation:
    """Check a token over ``data``: granted, SHA-256 imprint, chain to ``roots``, nonce, time after ``not_before``.

    Without ``roots`` everything but the chain is checked and the attestation says so.
    """
    if resp.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TimestampError(f"{source}: the TSA did not grant it ({_status_text(resp)})")
    try:
        info = resp.tst_info
    except ValueError as exc:
        raise TimestampError(f"{source}: unreadable token ({exc})") from None
    imprint = info.message_imprint
    if imprint.hash_algorithm != _SHA256_OID:
        raise TimestampError(f"{source}: imprint uses {imprint.hash_algorithm.dotted_string}, not SHA-256")
    if imprint.message != hashlib.sha256(data).digest():
        raise TimestampError(f"{source}: the token is over other data (message imprint does not match)")
    if nonce is not None and info.nonce != nonce:
        raise TimestampError(f"{source}: nonce {info.nonce} differs from the {nonce} that was sent (replayed token?)")
    if roots:
        try:
            VerifierBuilder(roots=list(roots)).build().verify(resp, imprint.message)
        except VerificationError as exc:
            raise TimestampError(f"{source}: not signed by a TSA chaining to the given CA ({exc})") from None
    gen_time = info.gen_time
    if not_before is not None:
        slack = _PRECISION + _accuracy(resp)
        if gen_time + slack < not_before:
            raise TimestampError(
                f"{source}: attested time {iso(gen_time)} is before the events it covers ({iso(not_before)})"
            )
    return Attestation(gen_time=gen_time, tsa=_tsa_name(resp), serial=info.serial_number, chain_checked=bool(roots))


def _accuracy(resp: TimeStampResponse) -> timedelta:
    try:
        acc = resp.tst_info.accuracy
    except (ValueError, AttributeError):
        return timedelta(0)
    if acc is None:
        return timedelta(0)
    return timedelta(seconds=acc.seconds or 0, milliseconds=acc.millis or 0, microseconds=acc.micros or 0)


def _signer(resp: TimeStampResponse) -> x509.Certificate | None:
    infos = list(resp.signed_data.signer_infos)
    for der in resp.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if infos and cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert
    return None


def _tsa_name(resp: TimeStampResponse) -> str:
    cert = _signer(resp)
    return cert.subject.rfc4514_string() if cert is not None else "an unnamed TSA"


def certificates_pem(resp: TimeStampResponse) -> bytes:
    """The certificates the token carries, signer first, as PEM (the ``-untrusted`` file for openssl)."""
    signer = _signer(resp)
    certs = [x509.load_der_x509_certificate(der) for der in resp.signed_data.certificates]
    certs.sort(key=lambda c: c != signer)
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)
