"""The S3 Object Lock blob store against a real moto_server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import blake3
import pytest
from botocore.exceptions import ClientError

from custody.errors import ConfigError, IntegrityError, StoreError
from custody.store.base import BlobStore
from custody.store.s3 import MIN_PART_SIZE, S3BlobStore, S3Settings
from custody.timeutil import iso
from tests.support.s3_server import S3_REGION, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytest_plugins = ["tests.conftest_s3"]

MIB = 1024 * 1024
# Blobs over 5 MiB go in 5 MiB parts: multipart uploads tested with small data.
_IN_PARTS: dict[str, Any] = {"part_size": MIN_PART_SIZE, "single_put_max": MIN_PART_SIZE}


def _store(server: MotoServer, bucket: str, spool: Path, **settings: Any) -> S3BlobStore:
    options = {k: settings.pop(k) for k in ("part_size", "single_put_max", "max_attempts") if k in settings}
    return S3BlobStore(
        S3Settings(bucket=bucket, prefix="evidence", endpoint_url=server.url, region=S3_REGION, **settings),
        spool_dir=spool,
        **options,
    )


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture
def store(s3: MotoServer, s3_locked_bucket: str, spool: Path) -> S3BlobStore:
    return _store(s3, s3_locked_bucket, spool, retention_days=30)


def _put(store: S3BlobStore, data: bytes, chunk: int = 1 << 20) -> tuple[str, bool]:
    writer = store.open_writer()
    for start in range(0, len(data), chunk):
        writer.write(data[start : start + chunk])
    digest = hashlib.sha256(data).hexdigest()
    return digest, writer.commit(digest)


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _versions(client: S3Client, bucket: str, key: str) -> list[str]:
    listing = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key]


def test_store_satisfies_the_blob_store_interface(store: S3BlobStore) -> None:
    as_interface: BlobStore = store
    assert as_interface.kind == "s3"


def test_committed_blob_reads_back_byte_identical(store: S3BlobStore) -> None:
    data = os.urandom(3 * MIB + 17)
    digest, created = _put(store, data)
    assert created
    assert store.exists(digest)
    with store.open_read(digest) as fh:
        got = b"".join(iter(lambda: fh.read(100_000), b""))
    assert got == data


def test_blob_is_stored_under_prefix_sha256_ab_cd_digest(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    digest, _ = _put(store, b"key layout")
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=f"evidence/sha256/{digest[:2]}/{digest[2:4]}/{digest}")
    assert head["ContentLength"] == len(b"key layout")


def test_committed_object_is_in_compliance_mode_until_retention_days(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    digest, _ = _put(store, b"exhibit A")
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(head["ObjectLockRetainUntilDate"] - expected) < timedelta(minutes=1)


def test_committed_object_carries_its_sha256_checksum(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    digest, _ = _put(store, b"exhibit B")
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == _b64_sha256(b"exhibit B")


def test_legal_hold_is_set_when_configured(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    store = _store(s3, s3_locked_bucket, spool, legal_hold=True)
    digest, _ = _put(store, b"held")
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest))
    assert head["ObjectLockLegalHoldStatus"] == "ON"


def test_no_legal_hold_unless_configured(store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str) -> None:
    digest, _ = _put(store, b"not held")
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest))
    assert head.get("ObjectLockLegalHoldStatus") != "ON"


def test_deleting_the_locked_version_is_refused(store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str) -> None:
    digest, _ = _put(store, b"cannot delete me")
    key = store.key_for(digest)
    (version,) = _versions(s3_client, s3_locked_bucket, key)
    with pytest.raises(ClientError) as refused:
        s3_client.delete_object(Bucket=s3_locked_bucket, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert _versions(s3_client, s3_locked_bucket, key) == [version]


def test_a_delete_marker_does_not_hide_a_locked_blob(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    digest, _ = _put(store, b"still here")
    s3_client.delete_object(Bucket=s3_locked_bucket, Key=store.key_for(digest))
    assert store.exists(digest)
    with store.open_read(digest) as fh:
        assert fh.read() == b"still here"
    assert store.lock_info(digest).locked


def test_committing_the_same_digest_twice_uploads_once(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    digest, first = _put(store, b"same bytes")
    _, second = _put(store, b"same bytes")
    assert (first, second) == (True, False)
    assert len(_versions(s3_client, s3_locked_bucket, store.key_for(digest))) == 1


def _count_calls(store: S3BlobStore, operation: str) -> list[str]:
    calls: list[str] = []
    store.client.meta.events.register(f"before-call.s3.{operation}", lambda **kw: calls.append(operation))
    return calls


def test_a_small_blob_is_sent_without_asking_first_and_a_duplicate_is_refused_by_the_server(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    heads = _count_calls(store, "HeadObject")
    puts = _count_calls(store, "PutObject")
    digest, first = _put(store, b"small exhibit")
    _, second = _put(store, b"small exhibit")
    assert (first, second) == (True, False)
    assert (len(puts), len(heads)) == (2, 1)  # the one HEAD reads back the first upload's lock
    assert len(_versions(s3_client, s3_locked_bucket, store.key_for(digest))) == 1


def test_a_large_blob_already_held_is_not_sent_again(
    s3: MotoServer, s3_locked_bucket: str, spool: Path
) -> None:
    store = _store(s3, s3_locked_bucket, spool, **_IN_PARTS)
    data = os.urandom(9 * MIB)
    _put(store, data)
    parts = _count_calls(store, "UploadPart")
    _, created = _put(store, data)
    assert created is False and parts == []


def test_the_lock_is_read_back_once_when_the_server_applies_the_one_sent_with_the_upload(
    store: S3BlobStore,
) -> None:
    heads = _count_calls(store, "HeadObject")
    digests = [_put(store, b"single %d" % n)[0] for n in range(3)]
    assert len(heads) == 1
    assert all(store.lock_info(d).mode == "COMPLIANCE" for d in digests)


def test_a_server_that_ignores_lock_headers_gets_every_blob_locked_afterwards(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str
) -> None:
    def drop_lock(params: dict[str, Any], **_kw: Any) -> None:
        for name in ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"):
            params.pop(name, None)

    store.client.meta.events.register("provide-client-params.s3.PutObject", drop_lock)
    retention = _count_calls(store, "PutObjectRetention")
    digests = [_put(store, b"exhibit %d" % n)[0] for n in range(3)]
    assert len(retention) == 3
    for digest in digests:
        head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest))
        assert head["ObjectLockMode"] == "COMPLIANCE"


def test_multipart_upload_stores_the_right_bytes_locked_with_part_checksums(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    store = _store(s3, s3_locked_bucket, spool, **_IN_PARTS)
    data = os.urandom(12 * MIB)
    digest, created = _put(store, data)
    assert created
    key = store.key_for(digest)
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")
    # A multipart object's SHA-256 checksum is the SHA-256 of its parts' SHA-256 digests.
    parts = [data[i : i + MIN_PART_SIZE] for i in range(0, len(data), MIN_PART_SIZE)]
    composite = base64.b64encode(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest())
    assert head["ChecksumSHA256"].split("-")[0] == composite.decode()
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert s3_client.get_object(Bucket=s3_locked_bucket, Key=key)["Body"].read() == data
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=s3_locked_bucket)


def test_wrong_digest_is_refused_and_nothing_is_uploaded(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str, spool: Path
) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    writer = store.open_writer()
    writer.write(b"the real bytes")
    with pytest.raises(IntegrityError, match=wrong):
        writer.commit(wrong)
    assert _versions(s3_client, s3_locked_bucket, store.key_for(wrong)) == []
    assert list(spool.iterdir()) == []


def test_wrong_digest_in_a_multipart_upload_leaves_no_object_and_no_pending_upload(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    store = _store(s3, s3_locked_bucket, spool, **_IN_PARTS)
    wrong = hashlib.sha256(b"something else").hexdigest()
    writer = store.open_writer()
    writer.write(os.urandom(6 * MIB))
    with pytest.raises(IntegrityError):
        writer.commit(wrong)
    assert _versions(s3_client, s3_locked_bucket, store.key_for(wrong)) == []
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=s3_locked_bucket)


def test_bucket_without_object_lock_is_refused(s3: MotoServer, s3_unlocked_bucket: str, spool: Path) -> None:
    store = _store(s3, s3_unlocked_bucket, spool)
    with pytest.raises(StoreError, match=s3_unlocked_bucket) as refused:
        store.check_bucket()
    assert "Object Lock" in str(refused.value)
    assert "--allow-unlocked" in str(refused.value)


def test_commit_into_a_bucket_without_object_lock_is_refused(
    s3: MotoServer, s3_unlocked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    store = _store(s3, s3_unlocked_bucket, spool)
    with pytest.raises(StoreError, match="Object Lock"):
        _put(store, b"unprotected")
    assert "Contents" not in s3_client.list_objects_v2(Bucket=s3_unlocked_bucket)


def test_bucket_without_object_lock_is_accepted_with_allow_unlocked(
    s3: MotoServer, s3_unlocked_bucket: str, spool: Path
) -> None:
    store = _store(s3, s3_unlocked_bucket, spool, allow_unlocked=True)
    store.check_bucket()
    digest, created = _put(store, b"unprotected by choice")
    assert created
    assert store.lock_info(digest).locked is False
    with store.open_read(digest) as fh:
        assert fh.read() == b"unprotected by choice"


def test_missing_bucket_is_reported_by_name(s3: MotoServer, spool: Path) -> None:
    store = _store(s3, "custody-no-such-bucket", spool)
    with pytest.raises(StoreError, match="'custody-no-such-bucket' does not exist"):
        store.check_bucket()


@pytest.mark.parametrize("store_is_new", [True, False], ids=["new-store", "store-in-use"])
def test_endpoint_down_during_commit_raises_and_leaves_nothing_under_the_key(
    private_s3: MotoServer, private_s3_locked_bucket: str, private_s3_client: S3Client, spool: Path, store_is_new: bool
) -> None:
    server, bucket = private_s3, private_s3_locked_bucket
    store = _store(server, bucket, spool, max_attempts=2)
    earlier, _ = _put(store, b"stored before the outage")
    if store_is_new:
        store = _store(server, bucket, spool, max_attempts=2)
    writer = store.open_writer()
    writer.write(b"sent during the outage")
    digest = hashlib.sha256(b"sent during the outage").hexdigest()
    server.stop()
    try:
        with pytest.raises(StoreError) as failed:
            writer.commit(digest)
    finally:
        server.start()
    message = str(failed.value)
    assert digest in message
    assert server.url in message
    assert bucket in message
    assert store.exists(earlier)  # the server came back with its state, so the next check means something
    assert _versions(private_s3_client, bucket, store.key_for(digest)) == []
    assert list(spool.iterdir()) == []


def test_abort_leaves_no_object_and_no_spool_file(
    store: S3BlobStore, s3_client: S3Client, s3_locked_bucket: str, spool: Path
) -> None:
    writer = store.open_writer()
    writer.write(b"never mind")
    assert len(list(spool.iterdir())) == 1
    writer.abort()
    assert list(spool.iterdir()) == []
    assert "Versions" not in s3_client.list_object_versions(Bucket=s3_locked_bucket)
    with pytest.raises(StoreError, match="closed"):
        writer.commit(hashlib.sha256(b"never mind").hexdigest())


def test_spool_files_of_dead_processes_are_removed(s3: MotoServer, s3_locked_bucket: str, spool: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    stale = spool / f"custody-s3-{int(dead.stdout)}-0123456789abcdef.part"
    stale.write_bytes(b"half an ingest")
    live = spool / f"custody-s3-{os.getpid()}-fedcba9876543210.part"
    live.write_bytes(b"an ingest in progress")
    _store(s3, s3_locked_bucket, spool)
    assert not stale.exists()
    assert live.exists()


def test_lock_info_reports_what_head_object_reports(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    store = _store(s3, s3_locked_bucket, spool, legal_hold=True, retention_days=7)
    digest, _ = _put(store, b"lock me")
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest))
    info = store.lock_info(digest)
    assert info.locked
    assert info.mode == head["ObjectLockMode"] == "COMPLIANCE"
    assert info.retain_until == iso(head["ObjectLockRetainUntilDate"])
    assert info.legal_hold is True


def test_missing_blob_cannot_be_read(store: S3BlobStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(absent)
    with pytest.raises(StoreError, match=absent):
        store.open_read(absent)
    with pytest.raises(StoreError, match=absent):
        store.lock_info(absent)


def test_iter_digests_lists_every_blob_under_the_prefix_once(
    store: S3BlobStore, s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    digests = {_put(store, f"item {i}".encode())[0] for i in range(3)}
    other = S3BlobStore(S3Settings(bucket=s3_locked_bucket, prefix="other", endpoint_url=s3.url), spool_dir=spool)
    _put(other, b"another archive")
    s3_client.delete_object(Bucket=s3_locked_bucket, Key=store.key_for(sorted(digests)[0]))
    assert sorted(store.iter_digests()) == sorted(digests)


def test_describe_reports_bucket_prefix_endpoint_and_lock_settings(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    s3_client.put_object_lock_configuration(
        Bucket=s3_locked_bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    store = _store(s3, s3_locked_bucket, spool, retention_days=90, legal_hold=True)
    assert store.describe() == {
        "kind": "s3",
        "bucket": s3_locked_bucket,
        "prefix": "evidence",
        "endpoint": s3.url,
        "object_lock": {"enabled": True, "default_retention": {"Mode": "COMPLIANCE", "Days": 1}},
        "retention_days": 90,
        "legal_hold": True,
        "allow_unlocked": False,
    }


def test_from_url_reads_bucket_prefix_and_options(s3: MotoServer, spool: Path) -> None:
    store = S3BlobStore.from_url(
        "s3://evidence-bucket/case-17/", endpoint_url=s3.url, retention_days=400, legal_hold=True, spool_dir=str(spool)
    )
    assert store.settings == S3Settings(
        bucket="evidence-bucket", prefix="case-17", endpoint_url=s3.url, retention_days=400, legal_hold=True
    )
    assert store.spool_dir == spool
    assert store.key_for("ab" * 32) == f"case-17/sha256/ab/ab/{'ab' * 32}"


def test_from_url_refuses_an_unknown_option() -> None:
    with pytest.raises(ConfigError, match="retention_dayz"):
        S3BlobStore.from_url("s3://evidence-bucket", retention_dayz=5)


def test_from_url_refuses_a_url_without_bucket() -> None:
    with pytest.raises(ConfigError, match="s3://BUCKET"):
        S3BlobStore.from_url("s3:///prefix")


def test_retention_below_one_day_is_refused() -> None:
    with pytest.raises(ConfigError, match="retention_days"):
        S3BlobStore(S3Settings(bucket="evidence-bucket", retention_days=0))


def _flip_spooled_byte(writer: Any) -> None:
    path = writer.pending_path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# A single PUT's spool is checked by BLAKE3 (S3 checks the SHA-256 sent with it); a multipart
# upload's by SHA-256, which S3 never checks for the whole object.
@pytest.mark.parametrize(
    ("size", "digest"), [(64 * 1024, "BLAKE3"), (12 * MIB, "SHA-256")], ids=["single", "multipart"]
)
def test_a_spool_changed_after_hashing_is_refused_and_nothing_is_uploaded(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path, size: int, digest: str
) -> None:
    store = _store(s3, s3_locked_bucket, spool, **_IN_PARTS)
    data = os.urandom(size)
    sha256, b3 = hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest()
    writer = store.open_writer()
    writer.write(data)
    _flip_spooled_byte(writer)
    with pytest.raises(IntegrityError, match=digest):
        writer.commit(sha256, b3)
    assert _versions(s3_client, s3_locked_bucket, store.key_for(sha256)) == []
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=s3_locked_bucket)
    assert list(spool.iterdir()) == []


def test_a_blob_within_the_single_put_limit_goes_in_one_put_checked_against_its_own_sha256(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    store = _store(s3, s3_locked_bucket, spool, part_size=MIN_PART_SIZE)
    parts = _count_calls(store, "UploadPart")
    data = os.urandom(12 * MIB)
    digest, created = _put(store, data)
    assert created and parts == []
    head = s3_client.head_object(Bucket=s3_locked_bucket, Key=store.key_for(digest), ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == digest
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_a_multipart_upload_checks_the_sha256_it_is_stored_under_even_when_the_blake3_matches(
    s3: MotoServer, s3_locked_bucket: str, s3_client: S3Client, spool: Path
) -> None:
    # S3 checks each part, never the whole object: a wrong SHA-256 must be caught before completion.
    store = _store(s3, s3_locked_bucket, spool, **_IN_PARTS)
    data = os.urandom(6 * MIB)
    wrong = hashlib.sha256(b"something else").hexdigest()
    writer = store.open_writer()
    writer.write(data)
    with pytest.raises(IntegrityError, match="SHA-256"):
        writer.commit(wrong, blake3.blake3(data).hexdigest())
    assert _versions(s3_client, s3_locked_bucket, store.key_for(wrong)) == []
    assert "Uploads" not in s3_client.list_multipart_uploads(Bucket=s3_locked_bucket)
