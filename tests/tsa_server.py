"""A real RFC 3161 time-stamp authority on loopback: ``openssl ts -reply`` behind a small HTTP handler.

``make_pki`` writes a test root CA and a TSA certificate (critical extended key usage
timeStamping) the way a public TSA's would be. The server answers every POSTed
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

from tests.s3_server import free_port


@dataclass(frozen=True)
class Pki:
    """Files of one test TSA: its root CA and its signing certificate and key."""

    folder: Path
    root_pem: Path
    tsa_cert_pem: Path
    tsa_key_pem: Path


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "custody tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def make_pki(folder: Path, label: str = "Test") -> Pki:
    """A root CA and a TSA certificate issued by it, as PEM files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    later = now + datetime.timedelta(days=3650)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} Root CA"))
        .issuer_name(_name(f"{label} Root CA"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} TSA"))
        .issuer_name(root.subject)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pki = Pki(folder, folder / "root.pem", folder / "tsa.pem", folder / "tsa.key")
    pki.root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    pki.tsa_cert_pem.write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    pki.tsa_key_pem.write_bytes(
        tsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pki


def _config(pki: Pki, digests: str) -> str:
    return f"""
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {pki.folder}/serial
crypto_device = builtin
signer_cert = {pki.tsa_cert_pem}
certs = {pki.tsa_cert_pem}
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
    """``openssl ts -reply`` served over HTTP on 127.0.0.1; ``mode`` is "ok", "reject" or "http-error"."""

    def __init__(self, pki: Pki, port: int | None = None) -> None:
        self.pki = pki
        self.port = port if port is not None else free_port()
        self.mode = "ok"
        self.requests = 0
        (pki.folder / "serial").write_text("01\n")
        (pki.folder / "ok.cnf").write_text(_config(pki, "sha256, sha384, sha512"))
        # A TSA that accepts no digest custody sends: openssl answers with a real rejection (badAlg).
        (pki.folder / "reject.cnf").write_text(_config(pki, "sha1"))
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
                    str(self.pki.folder / f"{self.mode}.cnf"),
                    "-queryfile",
                    str(tsq),
                    "-out",
                    str(tsr),
                ],
                check=True,
                capture_output=True,
            )
            return tsr.read_bytes()

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
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None
