"""Where an actor's unlock agent and its warm command server listen.

Standard library only: every command's fast path (``cli.forward``) reads these paths before it imports
anything else. Both sockets live in one 0700 folder of the user's, named by a digest of the archive's
resolved path and the actor's name, so an agent serves one actor on one archive. Also the one way
both servers listen and check who connected.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
import tempfile
from pathlib import Path


def runtime_folder() -> Path:
    """``$XDG_RUNTIME_DIR/custody-agent-UID`` (the temp folder when XDG_RUNTIME_DIR is unset)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"custody-agent-{os.getuid()}"


def _tag(archive_root: Path, actor: str) -> str:
    return hashlib.sha256(f"{archive_root.resolve()}\n{actor}".encode()).hexdigest()[:20]


def socket_path(archive_root: Path, actor: str) -> Path:
    """The key agent's socket for ``actor`` on the archive at ``archive_root``."""
    return runtime_folder() / f"{_tag(archive_root, actor)}.sock"


def command_socket_path(archive_root: Path, actor: str) -> Path:
    """The warm command server's socket for ``actor`` on the archive at ``archive_root``."""
    return runtime_folder() / f"{_tag(archive_root, actor)}.run.sock"


def folder_is_private(folder: Path) -> bool:
    """True if ``folder`` is a real folder owned by this user that nobody else may enter."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not stat.S_IMODE(info.st_mode) & 0o077


def listen_private(path: Path, backlog: int) -> socket.socket:
    """A Unix stream socket listening at ``path``, created 0600 (never readable by others, not even briefly)."""
    old = os.umask(0o177)
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path.unlink(missing_ok=True)
        server.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    server.listen(backlog)
    return server


def same_user(conn: socket.socket) -> bool:
    """True if the process at the other end of the Unix socket ``conn`` runs as this user (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return bool(struct.unpack("3i", creds)[1] == os.getuid())


def accept_same_user(server: socket.socket, left: float) -> socket.socket | None:
    """The next connection to ``server`` within ``left`` seconds (one at most), if its peer is this user.

    None when nobody connected in time, or when another user did (that connection is closed at once), so a
    server's loop re-checks its own end conditions at least once a second.
    """
    server.settimeout(min(left, 1.0))
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return None
    if not same_user(conn):
        conn.close()
        return None
    return conn


def start_detached(argv: list[str], secret: bytes = b"") -> bool:
    """Start ``argv`` in a session of its own, hand it ``secret`` on stdin, wait for its "ready" line.

    True once it said it listens; otherwise it is killed and False is returned.
    """
    import subprocess  # here, not at the top: every command's fast path imports this module

    child = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(secret)
    child.stdin.close()
    ready = child.stdout.readline()
    child.stdout.close()
    if ready.strip() != b"ready":
        child.kill()
        return False
    return True
