"""Real media files made by real tools (Pillow, exiftool, ffmpeg, c2pa) for the metadata tests."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, ImageDraw


def make_picture(path: Path, *, seed: int = 1, size: tuple[int, int] = (640, 480), quality: int = 90) -> Path:
    """A JPEG (or PNG, by suffix) with real structure, no metadata."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, size[0] // 2), rng.randrange(20, size[1] // 2)
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x, y, x + w, y + h), fill=color)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=color)
    if path.suffix.lower() == ".png":
        image.save(path, "PNG")
    else:
        image.save(path, "JPEG", quality=quality)
    return path


def exiftool_tag(path: Path, **tags: str | float) -> Path:
    """Write tags with exiftool, as an investigator's tooling would have."""
    args = [f"-{name}={value}" for name, value in tags.items()]
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)
    return path


def exiftool_read(path: Path) -> dict[str, Any]:
    out = subprocess.run(["exiftool", "-j", "-n", str(path)], check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)[0]
    return result


def make_mp4(path: Path, *, creation_time: str, duration: float = 2.0, size: str = "320x240") -> Path:
    """An H.264 MP4 from ffmpeg's test source, with a container creation time."""
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc=duration={duration}:size={size}:rate=25",
            "-metadata",
            f"creation_time={creation_time}",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


@cache
def _c2pa_credentials() -> tuple[bytes, bytes]:
    """A P-256 signing chain shaped as C2PA requires: a root, and a leaf for digital signatures only."""
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Field Newsroom"),
            ]
        )

    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    base = x509.CertificateBuilder().not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
    root = (
        base.subject_name(name("Field Newsroom Root"))
        .issuer_name(name("Field Newsroom Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        base.subject_name(name("Field Camera"))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM)
    key = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, key


def c2pa_sign(src: Path, dest: Path, *, media_type: str, title: str) -> Path:
    """Embed Content Credentials in a copy of ``src`` with the official c2pa library, as a camera app would."""
    import c2pa

    chain, key = _c2pa_credentials()
    manifest = {
        "claim_generator_info": [{"name": "field-camera", "version": "2.1"}],
        "title": title,
        "format": media_type,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            }
        ],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    with src.open("rb") as source, dest.open("wb") as out, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, media_type, source, out)
    return dest
