"""The court's three verifiers of a bundle (verify-bundle, the standalone verifier, VERIFY.md as printed)
and a genuine bundle to try them on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custody import keys
from custody.bundle import standalone
from tests.support.archives import PASSPHRASES, Cli
from tests.support.bundles import members, retag, root

CLEAN_PATH = "/usr/bin:/bin"


SYSTEM_PYTHON = "/usr/bin/python3"


# Names that break naive tools: spaces, Cyrillic (unzip in a C locale), '%' (BagIt percent-encoding).
NAMES = {"свидетель 1.txt": b"Witness statement.\n", "100% proof.bin": bytes(range(256)) * 40, "a b.dat": b""}


@dataclass(frozen=True)
class Genuine:
    bundle: Path
    vkey: str  # the archive's verifier key, as the court obtains it independently
    note: str  # the archive's latest checkpoint, as published
    bob: Ed25519PrivateKey  # the exporter's key: the strongest forger re-seals with it


@pytest.fixture
def genuine(cli: Cli, team: Path, tmp_path: Path) -> Genuine:
    folder = tmp_path / "evidence"
    folder.mkdir()
    for name, data in NAMES.items():
        (folder / name).write_bytes(data)
    cli.ok("ingest", "-r", folder, "--case", "UA-7", actor="bob")
    cli.ok("annotate", "EV-000001", "Statement taken 28 February", actor="carol")
    out = tmp_path / "out" / "bundle for the court.zip"
    out.parent.mkdir()
    cli.ok("export", "--case", "UA-7", "--out", out, "--purpose", "disclosure", actor="bob")
    vkey = cli.ok("checkpoint", "--vkey").out.strip()
    note = cli.ok("checkpoint", "--json").json()["note"]
    bob = keys.load_private(team / "keys" / "bob.signing.pem", PASSPHRASES["bob"], "bob")
    return Genuine(out, vkey, note, bob)


def custody_verdict(cli: Cli, bundle: Path, g: Genuine, tmp: Path, *extra: str | Path) -> bool:
    anchor = tmp / "published-checkpoint.txt"
    anchor.write_text(g.note)
    result = cli("verify-bundle", bundle, "--against-checkpoint", anchor, *extra, "--json")
    assert result.code in (0, 1), result.err
    return result.code == 0


def clean_env(home: Path) -> dict[str, str]:
    return {"PATH": CLEAN_PATH, "HOME": str(home)}  # no LANG, no LC_*, no virtualenv, no custody


def standalone_verdict(bundle: Path, g: Genuine, tmp: Path, *extra: str) -> bool:
    folder = tmp / "standalone"
    folder.mkdir()
    (folder / "verify_bundle.py").write_bytes(standalone.read(standalone.VERIFIER))
    (folder / "archive.vkey").write_text(g.vkey + "\n")
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "verify_bundle.py", str(bundle), "--vkey", "archive.vkey", *extra],
        cwd=folder, env=clean_env(folder), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


def guide_script(guide: str) -> str:
    """The ```sh blocks of VERIFY.md, in order, as one script."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", guide, re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 6
    return "".join(blocks)


def run_guide(
    bundle: Path, vkey: str, tmp: Path, received_as: str = "получено 100% копия.zip", tsa_root: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run VERIFY.md's commands as printed, from a folder holding the renamed zip and the archive key."""
    folder = tmp / "court"
    folder.mkdir(parents=True)
    shutil.copy(bundle, folder / received_as)
    (folder / "archive.vkey").write_text(vkey + "\n")
    if tsa_root is not None:
        shutil.copy(tsa_root, folder / "tsa-root.pem")
    entries = members(bundle)
    guide = entries[f"{root(entries)}/custody/VERIFY.md"].decode()
    (tmp / "verify.sh").write_text(guide_script(guide))
    return subprocess.run(["sh", "-e", str(tmp / "verify.sh")], cwd=folder, env=clean_env(folder),
                          capture_output=True, text=True)  # fmt: skip


def guide_verdict(bundle: Path, g: Genuine, tmp: Path) -> bool:
    proc = run_guide(bundle, g.vkey, tmp)
    # A forged bundle may stop a snippet anywhere; a genuine one must pass without a single error.
    assert proc.returncode != 0 or not proc.stderr.strip(), proc.stderr
    return proc.returncode == 0


def reseal(entries: dict[str, bytes], key: Ed25519PrivateKey) -> dict[str, bytes]:
    """Recompute the tag manifest and sign it with ``key``, as a forger holding that key would."""
    entries = retag(entries)
    top = root(entries)
    return {
        **entries,
        f"{top}/custody/seal.sig": key.sign(entries[f"{top}/tagmanifest-sha256.txt"]),
        f"{top}/custody/seal.pub.pem": keys.public_pem(key.public_key()).encode(),
    }


def three_verdicts(cli: Cli, bundle: Path, g: Genuine, tmp: Path) -> dict[str, bool]:
    return {
        "custody verify-bundle": custody_verdict(cli, bundle, g, tmp),
        "standalone verifier": standalone_verdict(bundle, g, tmp),
        "VERIFY.md commands": guide_verdict(bundle, g, tmp),
    }
