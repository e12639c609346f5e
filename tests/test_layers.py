"""The layers in pyproject.toml's [tool.importlinter] hold: SQL only in storage, Slack only in bot/slack and the
handlers, a domain without I/O, no import loops. A new import that breaks one fails here with the offending chain."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
