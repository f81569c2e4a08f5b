"""A real ``moto_server`` process on 127.0.0.1 that tests can stop and bring back on the same port.

moto keeps its state in memory, so the server records every request (moto's recorder) and a
restart replays the recording: buckets and single-request uploads come back; multipart uploads
do not (their replayed parts name upload ids the new process never issued).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

S3_REGION = "us-east-1"
MOTO_SERVER = Path(sys.executable).parent / "moto_server"
_START_DEADLINE_S = 30.0
# Talk to 127.0.0.1 directly even when the environment names an HTTP proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer:
    """One ``moto_server`` subprocess; ``stop`` kills it, ``start`` brings it back with its state."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.recording = workdir / "moto-recording.jsonl"
        self.log_path = workdir / "moto-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, restore: bool = True) -> None:
        """Start the server on its port; with ``restore``, replay what earlier runs recorded."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        had_state = restore and self.recording.is_file() and self.recording.stat().st_size > 0
        if not restore:
            self.recording.unlink(missing_ok=True)
        env = dict(os.environ, MOTO_ENABLE_RECORDING="1", MOTO_RECORDER_FILEPATH=str(self.recording))
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_answering()
        if had_state:
            self._post("/moto-api/recorder/replay-recording")

    def stop(self) -> None:
        """Kill the server: the endpoint refuses connections until ``start``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port with the recorded state."""
        self.stop()
        self.start(restore=True)

    def _post(self, path: str) -> None:
        request = urllib.request.Request(self.url + path, method="POST")
        with _DIRECT.open(request, timeout=60) as resp:
            resp.read()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + _START_DEADLINE_S
        while True:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"moto_server on port {self.port} exited; see {self.log_path}")
            try:
                with _DIRECT.open(self.url + "/moto-api/", timeout=2) as resp:
                    resp.read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server on port {self.port} did not answer; see {self.log_path}") from None
                time.sleep(0.05)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
