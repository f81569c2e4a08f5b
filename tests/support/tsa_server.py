"""A real RFC 3161 time-stamp authority on loopback: ``openssl ts -reply`` behind a small HTTP handler.

``make_pki`` writes a test root CA and a TSA certificate (critical extended key usage
timeStamping) the way a public TSA's would be, optionally issued by an intermediate CA and
optionally expiring soon. With ``chain_order`` the server sends every certificate of the
chain in chain order (signer, intermediate, root) instead of DER order, as several
commercial TSAs do. The server answers every POSTed
query by running ``openssl ts -reply`` with that key; ``mode`` makes it reject
requests (a real ``badAlg`` refusal from openssl) or fail at the HTTP level, and
``stop``/``start`` take it down and bring it back on the same port.
"""

from __future__ import annotations

import datetime
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.s3_server import free_port


@dataclass(frozen=True)
class Pki:
    """Files of one test TSA: its root CA and its signing certificate and key."""

    folder: Path
    root_pem: Path
    tsa_cert_pem: Path
    tsa_key_pem: Path
    chain: tuple[bytes, ...] = ()  # DER of the TSA certificate, then each issuer up to the root


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "custody tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _ca(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
        start: datetime.datetime, end: datetime.datetime) -> x509.Certificate:  # fmt: skip
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )


def make_pki(
    folder: Path,
    label: str = "Test",
    *,
    intermediate: bool = False,
    tsa_lifetime: datetime.timedelta = datetime.timedelta(days=3650),
) -> Pki:
    """A root CA (and an intermediate) and a TSA certificate issued by it, as PEM files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    later = now + datetime.timedelta(days=3650)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca(_name(f"{label} Root CA"), _name(f"{label} Root CA"), root_key, root_key, now, later)
    issuers, issuer, issuer_key = [root], root, root_key
    if intermediate:
        mid_key = ec.generate_private_key(ec.SECP256R1())
        issuer = _ca(_name(f"{label} Issuing CA"), root.subject, mid_key, root_key, now, later)
        issuers, issuer_key = [issuer, root], mid_key
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} TSA"))
        .issuer_name(issuer.subject)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(datetime.datetime.now(datetime.UTC) + tsa_lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    chain = tuple(c.public_bytes(serialization.Encoding.DER) for c in [tsa, *issuers])
    pki = Pki(folder, folder / "root.pem", folder / "tsa.pem", folder / "tsa.key", chain)
    pki.root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    pki.tsa_cert_pem.write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    # The other certificates the TSA puts in its replies: every issuer's, the root too, as many TSAs do.
    (folder / "issuers.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issuers))
    pki.tsa_key_pem.write_bytes(
        tsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pki


def with_certificates(reply: bytes, chain: tuple[bytes, ...], order: str) -> bytes:
    """``reply`` with its certificate SET OF laid out in ``order``: "chain" (signer, issuers, root) or "der".

    The certificates lie in the set back to back, so the span from the first to the last of them is
    the set's content and can be re-laid in any order without changing a length.
    """
    starts = [reply.index(der) for der in chain]
    begin, end = min(starts), max(s + len(der) for s, der in zip(starts, chain, strict=True))
    assert end - begin == sum(map(len, chain)), "the reply does not carry exactly the chain"
    laid = b"".join(chain if order == "chain" else sorted(chain))
    return reply[:begin] + laid + reply[end:]


def chain_is_der_sorted(pki: Pki) -> bool:
    """True when chain order happens to be DER order (then a chain-order reply tests nothing)."""
    return list(pki.chain) == sorted(pki.chain)


def _config(pki: Pki, digests: str, certs: str) -> str:
    return f"""
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {pki.folder}/serial
crypto_device = builtin
signer_cert = {pki.tsa_cert_pem}
{certs}
signer_key = {pki.tsa_key_pem}
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.2.3
other_policies = 1.3.6.1.4.1.4146.2.2
digests = {digests}
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
clock_precision_digits = 3
"""


class TsaServer:
    """``openssl ts -reply`` served over HTTP on 127.0.0.1; ``mode`` is "ok", "reject", "http-error",
    "garbage" (an HTML page with status 200) or "black-hole" (accepts, never answers)."""

    def __init__(self, pki: Pki, port: int | None = None) -> None:
        self.pki = pki
        self.port = port if port is not None else free_port()
        self.mode = "ok"
        self.certificates = "signer"  # or "chain": signer, issuers, root in chain order; or "der": DER-sorted
        self.requests = 0
        (pki.folder / "serial").write_text("01\n")
        (pki.folder / "ok.cnf").write_text(_config(pki, "sha256, sha384, sha512", ""))
        (pki.folder / "chain.cnf").write_text(_config(pki, "sha256", f"certs = {pki.folder / 'issuers.pem'}"))
        # A TSA that accepts no digest custody sends: openssl answers with a real rejection (badAlg).
        (pki.folder / "reject.cnf").write_text(_config(pki, "sha1", ""))
        self._released = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsr"

    def _reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            tsq, tsr = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            tsq.write_bytes(query)
            subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(
                        self.pki.folder
                        / (
                            "reject.cnf"
                            if self.mode == "reject"
                            else "ok.cnf"
                            if self.certificates == "signer"
                            else "chain.cnf"
                        )
                    ),
                    "-queryfile",
                    str(tsq),
                    "-out",
                    str(tsr),
                ],
                check=True,
                capture_output=True,
            )
            reply = tsr.read_bytes()
        if self.certificates == "signer":
            return reply
        return with_certificates(reply, self.pki.chain, self.certificates)

    def start(self) -> None:
        """Listen (again) on the server's port."""
        if self._httpd is not None:
            return
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.requests += 1
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if server.mode == "http-error":
                    self.send_error(503, "TSA overloaded")
                    return
                if server.mode == "black-hole":
                    server._released.wait(60)
                    return
                if server.mode == "garbage":
                    self.send_response(200)
                    self.send_header("Content-Length", "25")
                    self.end_headers()
                    self.wfile.write(b"<html>proxy error</html>\n")
                    return
                body = server._reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        if self._httpd is None:
            return
        self._released.set()  # black-holed requests end now
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None
