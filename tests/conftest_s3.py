"""Fixtures for S3 tests: a real moto_server per test session and a fresh bucket per test.

Load with ``pytest_plugins = ["tests.conftest_s3"]``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from tests.support.s3_server import S3_REGION, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _isolate_aws_environment(mp: pytest.MonkeyPatch, home: str) -> None:
    # Dummy credentials only, and no profile, config file or endpoint from the developer's machine.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "custody-test")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "custody-test-secret")
    mp.setenv("AWS_DEFAULT_REGION", S3_REGION)
    mp.setenv("AWS_CONFIG_FILE", f"{home}/config")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{home}/credentials")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """The session's moto_server, with dummy AWS credentials in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate_aws_environment(mp, str(tmp_path_factory.mktemp("aws-home")))
        server = MotoServer(tmp_path_factory.mktemp("moto"))
        server.start(restore=False)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def s3(s3_server: MotoServer) -> MotoServer:
    """The moto_server, running: brought back if an earlier test left it stopped."""
    s3_server.start()
    return s3_server


def s3_client_for(server: MotoServer) -> S3Client:
    """A plain boto3 client on the test server, for checking what is stored."""
    config = Config(
        retries={"mode": "standard", "max_attempts": 2},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client("s3", endpoint_url=server.url, region_name=S3_REGION, config=config)


@pytest.fixture
def private_s3(s3_server: MotoServer, tmp_path: Path) -> Iterator[MotoServer]:
    """A moto_server of this test's own, for tests that stop and restart it.

    A restart replays the server's recording; the shared server's holds every earlier test's
    requests, so only a private one replays a short history that is the same on every run.
    """
    with MotoServer(tmp_path / "private-moto") as server:  # a fresh folder: nothing to replay
        yield server


@pytest.fixture
def private_s3_client(private_s3: MotoServer) -> S3Client:
    return s3_client_for(private_s3)


@pytest.fixture
def private_s3_locked_bucket(private_s3_client: S3Client) -> str:
    """A bucket with Object Lock on the test's private server."""
    return _new_bucket(private_s3_client, object_lock=True)


@pytest.fixture
def s3_client(s3: MotoServer) -> S3Client:
    return s3_client_for(s3)


def _new_bucket(client: S3Client, *, object_lock: bool) -> str:
    name = f"custody-test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    return name


@pytest.fixture
def s3_locked_bucket(s3_client: S3Client) -> str:
    """A fresh bucket created with Object Lock enabled (hence versioned)."""
    return _new_bucket(s3_client, object_lock=True)


@pytest.fixture
def s3_unlocked_bucket(s3_client: S3Client) -> str:
    """A fresh bucket without Object Lock."""
    return _new_bucket(s3_client, object_lock=False)
