"""Real media files made by real tools (Pillow, exiftool, ffmpeg, c2pa) for the metadata tests."""

from __future__ import annotations

import json
import random
import struct
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


def exiftool_write(path: Path, *assignments: str) -> Path:
    """Write tags given as exiftool arguments (``-Keys:CreationDate=...``), group names and all."""
    subprocess.run(["exiftool", "-q", "-overwrite_original", *assignments, str(path)], check=True)
    return path


def make_mov(path: Path, *, creation_time: str | None = None, duration: float = 1.0) -> Path:
    """A QuickTime .mov (H.264) from ffmpeg; without ``creation_time`` its container time is zero."""
    extra = ["-metadata", f"creation_time={creation_time}"] if creation_time else []
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=duration={duration}:size=320x240:rate=25",
         *extra, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def make_iphone_mov(path: Path, *, creationdate: str, container_utc: str | None, duration: float = 1.0) -> Path:
    """A .mov shaped like an iPhone's: QuickTime Keys (com.apple.quicktime.*) beside the container time."""
    make_mov(path, creation_time=container_utc, duration=duration)
    return exiftool_write(
        path,
        f"-Keys:CreationDate={creationdate}",
        "-Keys:Make=Apple",
        "-Keys:Model=iPhone 12",
        "-Keys:Software=15.3.1",
        "-Keys:GPSCoordinates#=50.4501 30.5234 120",
        "-Rotation=90",
    )


def make_heic(path: Path, *, seed: int = 1) -> Path:
    """An HEIC still encoded by libheif/x265 through pillow-heif (ffmpeg 5.1 cannot write HEIF)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    jpeg = make_picture(path.with_suffix(".src.jpg"), seed=seed, size=(320, 240))
    with Image.open(jpeg) as image:
        image.save(path, format="HEIF", quality=80)
    jpeg.unlink()
    return path


def zero_gps_rationals(path: Path) -> Path:
    """Make the GPS latitude and longitude 0/0 rationals, as a camera without a fix writes them.

    exiftool refuses to write 0/0, so recognisable values are written and their bytes zeroed.
    """
    exiftool_write(path, "-GPSLatitude=11.2", "-GPSLatitudeRef=N", "-GPSLongitude=22.4", "-GPSLongitudeRef=E")
    data = bytearray(path.read_bytes())
    for degrees in (11, 22):
        # Big-endian (exiftool writes JPEG EXIF as MM): degrees/1, minutes/1, seconds/1.
        at = data.find(struct.pack(">II", degrees, 1))
        assert at > 0, "GPS rational not found"
        data[at : at + 24] = bytes(24)
    path.write_bytes(bytes(data))
    return path


def pixel_bomb_jpeg(path: Path, *, width: int = 30000, height: int = 30000) -> Path:
    """A small JPEG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    make_picture(path, size=(64, 64))
    data = bytearray(path.read_bytes())
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def make_8k_mp4(path: Path, *, seconds: float = 2.0) -> Path:
    """A ~100 KB MP4 of 8K frames: tiny on disk, huge once decoded."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=gray:s=7680x4320:r=25:d={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "51", "-pix_fmt", "yuv420p", "-threads", "1", str(path)],
        check=True,
    )
    return path
