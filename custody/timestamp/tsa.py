"""Talking to an RFC 3161 time-stamp authority and checking what it answers (via rfc3161-client)."""

from __future__ import annotations

import hashlib
import threading
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


class TsaUnreachable(TimestampError):
    """The TSA did not answer (refused connection, no route, or not within the time budget)."""


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


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``pos``; ValueError if malformed."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("DER element runs past the end")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, contents start, end) of each element between ``start`` and ``end``."""
    result = []
    while start < end:
        tag, body, stop = _tlv(data, start)
        result.append((tag, start, body, stop))
        start = stop
    return result


def der_sorted_certificates(data: bytes) -> bytes:
    """``data`` with the token's certificate SET OF in DER order, every other byte unchanged.

    Many TSAs send their chain in chain order; DER requires a SET OF sorted by encoding and
    rfc3161-client refuses anything else ("ASN.1 parse error"). The TSA's signature covers the
    signed attributes, not the certificate set, so this order is only for the parser: the TSA's
    original bytes are what custody stores, hashes and ships.
    """
    try:
        _, body, end = _tlv(data, 0)  # TimeStampResp
        parts = _children(data, body, end)
        if len(parts) < 2:
            return data
        _, _, token_body, token_end = parts[1]  # ContentInfo
        content = _children(data, token_body, token_end)
        _, _, explicit_body, explicit_end = content[1]  # [0] EXPLICIT
        (_, _, signed_body, signed_end), *_ = _children(data, explicit_body, explicit_end)  # SignedData
        for tag, _, certs_body, certs_end in _children(data, signed_body, signed_end):
            if tag == 0xA0:  # certificates [0] IMPLICIT SET OF
                certs = [data[s:e] for _, s, _, e in _children(data, certs_body, certs_end)]
                return data[:certs_body] + b"".join(sorted(certs)) + data[certs_end:]
    except (ValueError, IndexError):
        pass  # not the expected shape: let the parser report it
    return data


def parse_response(data: bytes, source: str) -> TimeStampResponse:
    """Decode a DER time-stamp response; TimestampError naming ``source`` if it is not one."""
    try:
        return decode_timestamp_response(der_sorted_certificates(data))
    except ValueError as exc:
        raise TimestampError(f"{source}: not an RFC 3161 time-stamp response ({exc})") from None


def _status_text(resp: TimeStampResponse) -> str:
    try:
        name = PKIStatus(resp.status).name.lower()
    except ValueError:
        name = f"status {resp.status}"
    detail = "; ".join(resp.status_string)
    return name + (f" ({detail})" if detail else "")


def _post(http: urllib.request.Request, url: str, budget: float) -> bytes:
    """The TSA's answer within ``budget`` seconds in all (connect, send, a trickling reply), or TsaUnreachable."""
    outcome: list[bytes | TimestampError] = []
    silent = f"time-stamp authority {url} did not answer within {budget:g} s (tsa.timeout)"
    unreachable = f"time-stamp authority {url} is unreachable"

    def exchange() -> None:
        try:
            with _DIRECT.open(http, timeout=budget) as reply:
                outcome.append(reply.read())
        except urllib.error.HTTPError as exc:
            outcome.append(TimestampError(f"time-stamp authority {url} answered HTTP {exc.code} {exc.reason}"))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            outcome.append(TsaUnreachable(silent if isinstance(reason, TimeoutError) else f"{unreachable} ({reason})"))

    worker = threading.Thread(target=exchange, name="tsa-request", daemon=True)
    worker.start()
    worker.join(budget)
    if not outcome:
        raise TsaUnreachable(silent)
    result = outcome[0]
    if isinstance(result, TimestampError):
        raise result
    return result


def request_token(url: str, data: bytes, *, timeout: float, roots: list[x509.Certificate] | None) -> Token:
    """Ask the TSA at ``url`` for a token over SHA-256(``data``), with a nonce and its certificate."""
    request = TimestampRequestBuilder(data=data, hash_algorithm=HashAlgorithm.SHA256, nonce=True, cert_req=True).build()
    http = urllib.request.Request(
        url, data=request.as_bytes(), headers={"Content-Type": "application/timestamp-query"}, method="POST"
    )
    body = _post(http, url, timeout)
    resp = parse_response(body, f"the answer of {url} (it answered, but not with a usable token)")
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
