"""The README's archivist walkthrough runs exactly as written, as a user types it (the installed `custody`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARK = "<!-- walkthrough: run by tests/test_readme.py -->"


def walkthrough() -> str:
    """The shell block right after the walkthrough mark."""
    text = README.read_text("utf-8")
    found = re.search(re.escape(MARK) + r"\n```sh\n(.*?)\n```\n", text, re.DOTALL)
    assert found, "README.md lost its walkthrough block"
    return found.group(1)


def test_the_archivist_walkthrough_runs_as_written(tmp_path: Path) -> None:
    script = walkthrough()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    # What a user types at the prompts, given the way the README says scripts give it.
    env["CUSTODY_PASSPHRASE"] = env["CUSTODY_NEW_PASSPHRASE"] = "correct horse battery staple 2026"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert (tmp_path / "exhibit.jpg").is_file() and (tmp_path / "disclosure.zip").is_file()
    assert sorted(p.name for p in (tmp_path / "exhibits").iterdir()) == [
        "EV-000001_IMG_20260228_140311.jpg", "EV-000002_IMG_20260228_140502.jpg", "EV-000003_submunition_close.jpg"
    ]  # fmt: skip
    assert "ALL CHECKS PASSED" in proc.stdout
