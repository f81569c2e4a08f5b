"""Ingest into an S3 Object Lock store (moto_server on loopback) against plain boto3 upload_file.

Run by hand: ``.venv/bin/python benchmarks/s3.py [WORKDIR]``. Target ratio <= 1.2, the median of
three rounds.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from _common import PASSPHRASE, compile_bytecode, fresh, make_dataset, run, timed

ROUNDS = 3


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    compile_bytecode()
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="custody-s3bench-"))
    data = work / "evidence"
    if not data.exists():
        print(f"generating the evidence set in {data} ...")
        make_dataset(data)
    port = _port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        client = boto3.client("s3", endpoint_url=url)
        files = sorted(data.iterdir())
        cmd = [sys.executable, "-m", "custody_cli.main", "--as", "bench"]
        secrets = {"CUSTODY_PASSPHRASE": PASSPHRASE, "CUSTODY_NEW_PASSPHRASE": PASSPHRASE, **env}
        ratios: list[float] = []
        # New buckets and a new archive each round, so nothing is already there; the median of
        # the rounds is reported because a shared machine's speed drifts between runs.
        for n in range(1, ROUNDS + 1):
            print(f"round {n} of {ROUNDS}")
            plain_bucket, locked_bucket = f"plain-{n}", f"locked-{n}"
            client.create_bucket(Bucket=plain_bucket)
            client.create_bucket(Bucket=locked_bucket, ObjectLockEnabledForBucket=True)

            def plain(bucket: str = plain_bucket) -> None:
                for path in files:
                    client.upload_file(str(path), bucket, path.name)

            baseline = timed("boto3 upload_file of every file", plain)
            archive = fresh(work / "archive")
            run(
                [
                    *cmd,
                    "init",
                    str(archive),
                    "--admin",
                    "bench",
                    "--store",
                    f"s3://{locked_bucket}/custody",
                    "--s3-endpoint",
                    url,
                ],
                env=secrets,
            )
            ingest = [*cmd, "--archive", str(archive), "ingest", "--recursive", str(data)]
            ours = timed("custody ingest --recursive (S3, Object Lock)", lambda ingest=ingest: run(ingest, env=secrets))
            ratios.append(ours / baseline)
        rounds = ", ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        print(f"\ningest into S3 / boto3 upload_file = {median:.2f}  (rounds: {rounds})  target <= 1.2")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
