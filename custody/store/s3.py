"""S3-compatible store (AWS S3, MinIO, Ceph) with every blob under Object Lock in COMPLIANCE mode.

Longer than most modules (about 600 lines) on purpose: the writer (spool, single PUT or multipart upload,
the re-read check) and the store (lock checks, reads, listing) share the S3 error vocabulary and the
upload limits defined here, and everything that talks to boto3 stays in this one file of the storage layer.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypedDict
from urllib.parse import urlsplit

import blake3
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ConfigError, IntegrityError, StoreError
from ..timeutil import iso
from . import layout
from .base import LockInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import ObjectLockLegalHoldStatusType, ObjectLockModeType
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, HeadObjectOutputTypeDef

_MIB = 1024 * 1024
DEFAULT_PART_SIZE = 64 * _MIB
# S3 limits every part but the last to at least 5 MiB, any part to 5 GiB and an upload to 10,000 parts
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
MIN_PART_SIZE = 5 * _MIB
# Below this size a blob is uploaded without asking first whether the bucket holds it: the
# conditional PUT refuses a duplicate (412), and sending a few megabytes again now and then
# costs less than a HEAD request before every new blob.
_ASK_FIRST_FROM = 8 * _MIB
MAX_PART_SIZE = 5 * 1024 * _MIB
# Up to this size a blob goes in one PUT streamed from the spool, with its own SHA-256 (already
# known) as the checksum: S3 checks the whole object's digest and nothing is hashed per part.
# Larger blobs go in parts, so a failure costs one part, not the whole upload.
DEFAULT_SINGLE_PUT_MAX = 512 * _MIB
# S3's limit for one PUT.
MAX_SINGLE_PUT = 5 * 1024 * _MIB
_MAX_PARTS = 10_000
_SPOOL_PREFIX = "custody-s3-"
_FIX_HINT = "check that the endpoint is reachable and the AWS credentials are valid, then try again"
_SPOOL_CHUNK = 8 * _MIB


class _Version(TypedDict, total=False):
    VersionId: str


class _LockFields(TypedDict, total=False):
    ObjectLockMode: ObjectLockModeType
    ObjectLockRetainUntilDate: datetime
    ObjectLockLegalHoldStatus: ObjectLockLegalHoldStatusType


@dataclass(frozen=True)
class S3Settings:
    """Where blobs go in S3 and how long Object Lock keeps them."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    retention_days: int = 3650
    legal_hold: bool = False
    allow_unlocked: bool = False


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reason(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "?")
        message = err.get("Message", "")
        return _one_line(f"{code} {message}".strip())
    return _one_line(str(exc))


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Body(io.RawIOBase):
    """An S3 response body as a raw stream, so it can be buffered into a BinaryIO."""

    def __init__(self, body: Any, what: str) -> None:
        self._body = body
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data: bytes = self._body.read(len(view))
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"reading {self._what} failed: {_one_line(str(exc))}; {_FIX_HINT}") from None
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _S3Writer:
    """Spools a blob to a private temp file; ``commit`` uploads it once its digest is known."""

    def __init__(self, store: S3BlobStore) -> None:
        self._store = store
        self.spool_path = store.spool_dir / layout.temp_name(_SPOOL_PREFIX)
        try:
            fd = os.open(self.spool_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create a spool file in {store.spool_dir}: {exc.strerror}") from None
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")
        self._upload_id: str | None = None
        self._key = ""

    @property
    def pending_path(self) -> Path:
        if self._fh is not None:
            self._fh.flush()
        return self.spool_path

    def write(self, chunk: bytes) -> None:
        if self._fh is None:
            raise StoreError("S3 blob writer already closed")
        try:
            self._fh.write(chunk)
        except OSError as exc:
            self.abort()
            raise StoreError(f"cannot spool evidence bytes to {self.spool_path}: {exc.strerror}") from None

    def commit(self, sha256_hex: str, blake3_hex: str | None = None) -> bool:
        if self._fh is None:
            raise StoreError("S3 blob writer already closed")
        store = self._store
        try:
            self._key = store.key_for(sha256_hex)
            self._fh.close()
            self._fh = None
            size = self.spool_path.stat().st_size
            try:
                store.check_bucket()
            except StoreError as exc:
                raise StoreError(f"cannot store blob {sha256_hex}: {exc}") from None
            if size >= _ASK_FIRST_FROM and store.exists(sha256_hex):
                return False
            if size <= store.single_put_max:
                created = self._put_single(sha256_hex, blake3_hex, size)
            else:
                created = self._put_multipart(sha256_hex, size)
            return created
        except (ClientError, BotoCoreError) as exc:
            raise store.error(f"cannot store blob {sha256_hex}", exc) from None
        except OSError as exc:
            raise StoreError(f"cannot read the spool file {self.spool_path}: {exc.strerror}") from None
        finally:
            self.abort()

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            # Best effort: an upload left pending is invisible and never becomes an object.
            with contextlib.suppress(ClientError, BotoCoreError):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.settings.bucket, Key=self._key, UploadId=upload_id
                )
        self.spool_path.unlink(missing_ok=True)

    def _put_single(self, sha256_hex: str, blake3_hex: str | None, size: int) -> bool:
        store = self._store
        # Hashed and sent from the file: uploads running side by side must not each hold a part in memory.
        # The spool is checked before the PUT, since a locked object can never be replaced. BLAKE3,
        # computed with the SHA-256 over the same bytes, proves the spool holds exactly those bytes
        # at a fraction of SHA-256's cost; S3 then checks the whole object against the SHA-256 sent.
        with self.spool_path.open("rb") as spool:
            if blake3_hex is None:
                self._check_digest(sha256_hex, "SHA-256", sha256_hex, hashlib.file_digest(spool, "sha256").hexdigest())
            else:
                again = blake3.blake3()
                while data := spool.read(_SPOOL_CHUNK):
                    again.update(data)
                self._check_digest(sha256_hex, "BLAKE3", blake3_hex, again.hexdigest())
            spool.seek(0)
            try:
                resp = store.client.put_object(
                    Bucket=store.settings.bucket,
                    Key=self._key,
                    Body=spool,
                    ContentLength=size,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=_b64(bytes.fromhex(sha256_hex)),
                    IfNoneMatch="*",
                    **store.lock_fields(),
                )
            except ClientError as exc:
                if _status(exc) == 412:  # a concurrent writer stored the same digest first
                    return False
                raise
        store.verify_upload(sha256_hex, resp.get("VersionId"), size, "single")
        return True

    def _put_multipart(self, sha256_hex: str, size: int) -> bool:
        store = self._store
        bucket = store.settings.bucket
        part_size = max(store.part_size, -(-size // _MAX_PARTS))
        upload = store.client.create_multipart_upload(
            Bucket=bucket, Key=self._key, ChecksumAlgorithm="SHA256", **store.lock_fields()
        )
        self._upload_id = upload["UploadId"]
        whole = hashlib.sha256()
        parts: list[CompletedPartTypeDef] = []
        with self.spool_path.open("rb") as spool:
            while data := spool.read(part_size):
                whole.update(data)
                checksum = _b64(hashlib.sha256(data).digest())
                number = len(parts) + 1
                resp = store.client.upload_part(
                    Bucket=bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=data,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
                parts.append({"ETag": resp["ETag"], "PartNumber": number, "ChecksumSHA256": checksum})
        # Nothing server-side checks the whole-object digest of a multipart upload, so check it here,
        # before completing: an upload that is never completed never becomes visible.
        self._check_digest(sha256_hex, "SHA-256", sha256_hex, whole.hexdigest())
        try:
            resp_done = store.client.complete_multipart_upload(
                Bucket=bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _status(exc) == 412:
                return False
            raise
        self._upload_id = None
        store.verify_upload(sha256_hex, resp_done.get("VersionId"), size, "multipart")
        return True

    def _check_digest(self, sha256_hex: str, algorithm: str, expected: str, actual: str) -> None:
        if expected != actual:
            raise IntegrityError(
                f"blob {sha256_hex}: the spooled bytes hash to {algorithm} {actual}, not to the "
                f"{algorithm} digest given ({expected}); nothing was stored in S3; ingest the file again"
            )


class S3BlobStore:
    """Blobs under ``s3://BUCKET/PREFIX/sha256/ab/cd/<digest>``, each locked in COMPLIANCE mode."""

    kind = "s3"

    def __init__(
        self,
        settings: S3Settings,
        *,
        spool_dir: Path | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        single_put_max: int = DEFAULT_SINGLE_PUT_MAX,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        if not settings.bucket:
            raise ConfigError("the S3 store needs a bucket; use a store URL like s3://BUCKET/PREFIX")
        if settings.retention_days < 1:
            raise ConfigError(f"S3 store retention_days is {settings.retention_days}; it must be at least 1 day")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ConfigError(f"S3 part size {part_size} is outside S3's limits of 5 MiB to 5 GiB")
        if not 0 <= single_put_max <= MAX_SINGLE_PUT:
            raise ConfigError(f"S3 single-PUT limit {single_put_max} is outside 0 to S3's 5 GiB")
        if max_attempts < 1:
            raise ConfigError(f"S3 max_attempts is {max_attempts}; it must be at least 1")
        self.settings = settings
        self.prefix = settings.prefix.strip("/")
        self.part_size = part_size
        self.single_put_max = single_put_max
        self.spool_dir = spool_dir if spool_dir is not None else Path(tempfile.gettempdir())
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # S3-compatible servers are addressed by path; many do not resolve bucket sub-domains.
            s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
            # Checksums are sent explicitly (SHA-256); the SDK's default CRC trailers trip some
            # S3-compatible servers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            self.client: S3Client = boto3.client(
                "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
            )
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(f"cannot set up the S3 client for bucket '{settings.bucket}': {exc}") from None
        self._lock_enabled: bool | None = None
        self._lock_honoured: set[str] = set()  # upload kinds seen to apply the lock sent with them
        # A process killed mid-ingest leaves its spool file behind; it never became a blob.
        layout.remove_stale_temps(self.spool_dir, _SPOOL_PREFIX)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> S3BlobStore:
        """A store for ``s3://BUCKET/PREFIX``; ``kw`` holds S3Settings fields and constructor options."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"'{url}' is not an S3 store URL; use s3://BUCKET/PREFIX")
        setting_names = {"endpoint_url", "region", "retention_days", "legal_hold", "allow_unlocked"}
        option_names = {"spool_dir", "part_size", "single_put_max", "max_attempts", "connect_timeout", "read_timeout"}
        unknown = sorted(set(kw) - setting_names - option_names)
        if unknown:
            raise ConfigError(
                f"unknown S3 store option(s) {', '.join(unknown)} for {url}; "
                f"known: {', '.join(sorted(setting_names | option_names))}"
            )
        try:
            settings = S3Settings(
                bucket=parts.netloc, prefix=parts.path.strip("/"), **{k: v for k, v in kw.items() if k in setting_names}
            )
            options = {k: v for k, v in kw.items() if k in option_names}
            if "spool_dir" in options and options["spool_dir"] is not None:
                options["spool_dir"] = Path(options["spool_dir"])
            return cls(settings, **options)
        except TypeError as exc:
            raise ConfigError(f"invalid S3 store option for {url}: {exc}") from None

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    def error(self, action: str, exc: ClientError | BotoCoreError) -> StoreError:
        """A StoreError naming what failed, the endpoint and the bucket."""
        return StoreError(
            f"{action}: S3 bucket '{self.settings.bucket}' at {self.endpoint}: {_reason(exc)}; {_FIX_HINT}"
        )

    def key_for(self, sha256_hex: str) -> str:
        """The object key of a digest."""
        tail = layout.blob_key(sha256_hex)
        return f"{self.prefix}/{tail}" if self.prefix else tail

    def check_bucket(self) -> None:
        """Refuse a bucket without Object Lock unless ``allow_unlocked``; StoreError says how to fix it."""
        if self._lock_enabled is not None:
            return
        bucket = self.settings.bucket
        try:
            conf = self.client.get_object_lock_configuration(Bucket=bucket)
            enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                raise StoreError(
                    f"S3 bucket '{bucket}' does not exist at {self.endpoint}; create it with Object Lock enabled"
                ) from None
            if _code(exc) != "ObjectLockConfigurationNotFoundError":
                raise self.error("cannot read the Object Lock configuration", exc) from None
            enabled = False
        except BotoCoreError as exc:
            raise self.error("cannot read the Object Lock configuration", exc) from None
        if not enabled and not self.settings.allow_unlocked:
            raise StoreError(
                f"S3 bucket '{bucket}' at {self.endpoint} does not have Object Lock enabled, so stored evidence "
                f"could be overwritten or deleted; use a bucket created with Object Lock enabled, "
                f"or init with --allow-unlocked to accept an unprotected store"
            )
        self._lock_enabled = enabled

    def lock_fields(self) -> _LockFields:
        """Object Lock parameters for a new object (none when the bucket has no Object Lock)."""
        self.check_bucket()
        if not self._lock_enabled:
            return {}
        fields: _LockFields = {
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": self._retain_until(),
        }
        if self.settings.legal_hold:
            fields["ObjectLockLegalHoldStatus"] = "ON"
        return fields

    def _retain_until(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + timedelta(days=self.settings.retention_days)

    def verify_upload(self, sha256_hex: str, version_id: str | None, size: int, kind: str) -> None:
        """Check the uploaded version's size and lock; apply the lock if the server ignored it.

        Once an upload of this ``kind`` (single PUT or multipart) showed the server applying the
        lock sent with it, later ones of the same kind are trusted without reading them back;
        a server that needed the lock applied afterwards is read back every time.
        ``custody verify`` reads every blob's lock regardless.
        """
        if kind in self._lock_honoured:
            return
        bucket, key = self.settings.bucket, self.key_for(sha256_hex)
        head = self._head_version(key, version_id)
        stored = head.get("ContentLength")
        if stored != size:
            raise StoreError(
                f"blob {sha256_hex} was uploaded to S3 bucket '{bucket}' at {self.endpoint} but the object holds "
                f"{stored} bytes instead of {size}; report this to the storage administrator and ingest again"
            )
        if not self._lock_enabled:
            self._lock_honoured.add(kind)
            return
        vid = head.get("VersionId")
        version: _Version = {"VersionId": vid} if vid else {}
        # Some S3-compatible servers drop Object Lock headers on multipart uploads; lock explicitly then.
        relocked = False
        if head.get("ObjectLockMode") != "COMPLIANCE":
            self.client.put_object_retention(
                Bucket=bucket,
                Key=key,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": self._retain_until()},
                **version,
            )
            relocked = True
        if self.settings.legal_hold and head.get("ObjectLockLegalHoldStatus") != "ON":
            self.client.put_object_legal_hold(Bucket=bucket, Key=key, LegalHold={"Status": "ON"}, **version)
            relocked = True
        # Only a lock applied after the upload needs reading back; otherwise the first HEAD shows it.
        info = self._lock_info_of(self._head_version(key, vid) if relocked else head)
        if info.mode != "COMPLIANCE" or (self.settings.legal_hold and not info.legal_hold):
            raise StoreError(
                f"blob {sha256_hex} was uploaded to S3 bucket '{bucket}' at {self.endpoint} but is not under "
                f"COMPLIANCE Object Lock (mode {info.mode}); check the bucket's Object Lock support"
            )
        if not relocked:
            self._lock_honoured.add(kind)

    def _head_version(self, key: str, version_id: str | None) -> HeadObjectOutputTypeDef:
        if version_id:
            return self.client.head_object(
                Bucket=self.settings.bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED"
            )
        return self.client.head_object(Bucket=self.settings.bucket, Key=key, ChecksumMode="ENABLED")

    def _stat(self, sha256_hex: str) -> HeadObjectOutputTypeDef | None:
        """Head of the newest stored version, or None if the blob was never stored."""
        key = self.key_for(sha256_hex)
        try:
            return self._head_version(key, None)
        except ClientError as exc:
            if _status(exc) != 404:
                raise
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            if headers.get("x-amz-delete-marker") != "true":
                return None
        # A delete marker hides a locked version but cannot remove it; the evidence is still there.
        listing = self.client.list_object_versions(Bucket=self.settings.bucket, Prefix=key)
        for version in listing.get("Versions", []):
            if version.get("Key") == key and "VersionId" in version:
                return self._head_version(key, version["VersionId"])
        return None

    def sync(self) -> None:
        """Nothing to do: an S3 commit returns only once the object is stored."""

    def open_writer(self, durable: bool = True) -> _S3Writer:
        return _S3Writer(self)

    def exists(self, sha256_hex: str) -> bool:
        try:
            return self._stat(sha256_hex) is not None
        except (ClientError, BotoCoreError) as exc:
            raise self.error(f"cannot look up blob {sha256_hex}", exc) from None

    def open_read(self, sha256_hex: str) -> BinaryIO:
        what = f"blob {sha256_hex} from S3 bucket '{self.settings.bucket}' at {self.endpoint}"
        try:
            head = self._stat(sha256_hex)
            if head is None:
                raise StoreError(f"{what} failed: it is missing; restore it from a replica or backup")
            key = self.key_for(sha256_hex)
            vid = head.get("VersionId")
            if vid:
                resp = self.client.get_object(Bucket=self.settings.bucket, Key=key, VersionId=vid)
            else:
                resp = self.client.get_object(Bucket=self.settings.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self.error(f"cannot read blob {sha256_hex}", exc) from None
        return io.BufferedReader(_Body(resp["Body"], what), buffer_size=_MIB)

    def lock_info(self, sha256_hex: str) -> LockInfo:
        # HEAD reports the lock to callers allowed s3:GetObjectRetention/GetObjectLegalHold, the same
        # permissions GetObjectRetention/GetObjectLegalHold would need, so one request suffices.
        try:
            head = self._stat(sha256_hex)
        except (ClientError, BotoCoreError) as exc:
            raise self.error(f"cannot read the lock of blob {sha256_hex}", exc) from None
        if head is None:
            raise StoreError(
                f"blob {sha256_hex} is missing from S3 bucket '{self.settings.bucket}' at {self.endpoint}; "
                f"restore it from a replica or backup"
            )
        return self._lock_info_of(head)

    @staticmethod
    def _lock_info_of(head: HeadObjectOutputTypeDef) -> LockInfo:
        mode = head.get("ObjectLockMode")
        until = head.get("ObjectLockRetainUntilDate")
        hold = head.get("ObjectLockLegalHoldStatus") == "ON"
        # GOVERNANCE retention can be bypassed by privileged users, so only COMPLIANCE counts as locked.
        retained = mode == "COMPLIANCE" and until is not None and until > datetime.now(UTC)
        return LockInfo(
            locked=retained or hold,
            mode=mode,
            retain_until=iso(until) if until is not None else None,
            legal_hold=hold,
        )

    def iter_digests(self) -> Iterator[str]:
        root = f"{self.prefix}/{layout.FOLDER}/" if self.prefix else f"{layout.FOLDER}/"
        paginator = self.client.get_paginator("list_object_versions")
        last = None
        try:
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=root):
                for version in page.get("Versions", []):
                    key = version.get("Key", "")
                    name = key.rsplit("/", 1)[-1]
                    if name != last and layout.is_digest(name) and key == self.key_for(name):
                        last = name
                        yield name
        except (ClientError, BotoCoreError) as exc:
            raise self.error("cannot list the stored blobs", exc) from None

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bucket": self.settings.bucket,
            "prefix": self.prefix,
            "endpoint": self.endpoint,
            "object_lock": self._lock_configuration(),
            "retention_days": self.settings.retention_days,
            "legal_hold": self.settings.legal_hold,
            "allow_unlocked": self.settings.allow_unlocked,
        }

    def _lock_configuration(self) -> dict[str, object]:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.settings.bucket)
        except ClientError as exc:
            if _code(exc) == "ObjectLockConfigurationNotFoundError":
                return {"enabled": False}
            return {"enabled": None, "error": _reason(exc)}
        except BotoCoreError as exc:
            return {"enabled": None, "error": _reason(exc)}
        lock = conf.get("ObjectLockConfiguration", {})
        result: dict[str, object] = {"enabled": lock.get("ObjectLockEnabled") == "Enabled"}
        default = lock.get("Rule", {}).get("DefaultRetention")
        if default:
            result["default_retention"] = {k: v for k, v in default.items() if k in ("Mode", "Days", "Years") and v}
        return result

