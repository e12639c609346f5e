"""`tokenbot digest` and `tokenbot scan` as real processes, against a real SQLite file and the fake Slack."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.bot.cli.test_cli import run
from tests.conftest import ORG_YAML


async def _tokenbot(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    base |= {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"} | env
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=tmp_path, env=base,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def test_digest_dry_run_prints_and_posts_nothing(tmp_path: Path) -> None:
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    assert run(tmp_path, "org", "sync", str(org)).returncode == 0
    result = run(tmp_path, "digest", "--team", "platform", "--date", "2026-11-18", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Platform AI spend Tue Nov 17: $0.00" in result.stdout
    assert "pending budget requests: 0" in result.stdout
    assert run(tmp_path, "digest", "--team", "nope", "--dry-run").returncode == 1
    scan = run(tmp_path, "scan", "--dry-run")
    assert scan.returncode == 0 and "no warnings" in scan.stdout


async def test_digest_by_hand_posts_once(tmp_path: Path, fake_slack) -> None:  # noqa: ANN001
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "TOKENBOT_SLACK_API_URL": fake_slack.api_url}
    assert (await _tokenbot(tmp_path, env, "org", "sync", str(org)))[0] == 0
    code, out, err = await _tokenbot(tmp_path, env, "digest", "--team", "platform", "--date", "2026-11-18")
    assert code == 0, err
    assert "posted the platform digest for 2026-11-18 to C0PLAT" in out
    code, out, _ = await _tokenbot(tmp_path, env, "digest", "--team", "platform", "--date", "2026-11-18")
    assert code == 0 and "already posted" in out
    assert [c.params["channel"] for c in fake_slack.posted] == ["C0PLAT"]
