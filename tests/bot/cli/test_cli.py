"""The `tokenbot` command, run as a real process against a real SQLite file."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ORG_YAML


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    base |= {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"} | (env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=base, capture_output=True,
                          text=True, timeout=120)


def test_org_sync_prints_changes_then_nothing(tmp_path: Path) -> None:
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    first = run(tmp_path, "org", "sync", str(org))
    assert first.returncode == 0, first.stderr
    assert "team platform: added (budget $1,000.00)" in first.stdout
    assert "person ada@test.example: added to platform" in first.stdout
    second = run(tmp_path, "org", "sync", str(org))
    assert second.stdout.splitlines()[0] == "no changes"
    assert "2 teams and 3 people" in second.stdout


def test_bad_org_file_changes_nothing(tmp_path: Path) -> None:
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML.replace("timezone: Europe/Berlin", "timezone: Europe/Atlantis"))
    result = run(tmp_path, "org", "sync", str(org))
    assert result.returncode == 1
    assert f"{org}:10: team `platform`: unknown timezone 'Europe/Atlantis'" in result.stderr
    assert "nothing was changed" in result.stderr
    assert "alan" not in result.stderr  # people of the broken team are not reported again
    assert run(tmp_path, "usage", "show", "--team", "platform").returncode == 1  # no team was created


def test_csv_import_and_show(tmp_path: Path) -> None:
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    run(tmp_path, "org", "sync", str(org))
    now = int(time.time())
    csv = tmp_path / "usage.csv"
    csv.write_text("id,timestamp,user,model,input_tokens,output_tokens,cost_usd\n"
                   f"c1,{now - 60},ada,gpt-4o,1000,10,2.50\n"
                   f"c2,{now - 120},sk-ada,gpt-4o,1000,10,1.25\n"
                   f"c3,{now - 120},ada,gpt-4o,lots,10,1\n")
    result = run(tmp_path, "usage", "import", str(csv))
    assert result.returncode == 1  # one row was rejected
    assert "2 accepted, 0 duplicates, 1 rejected" in result.stdout
    assert "item 2: input_tokens: must be a whole number" in result.stdout
    again = run(tmp_path, "usage", "import", str(csv))
    assert "0 accepted, 2 duplicates, 1 rejected" in again.stdout
    shown = run(tmp_path, "usage", "show", "--user", "ada@test.example")
    assert shown.returncode == 0, shown.stderr
    assert "today" in shown.stdout and "$3.75" in shown.stdout
    rejected = run(tmp_path, "usage", "rejected")
    assert "input_tokens: must be a whole number" in rejected.stdout


def test_serve_without_slack_credentials_starts_and_says_what_to_set(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    env |= {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}", "TOKENBOT_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        for _ in range(600):  # bounded: start-up migrates the database first
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body == '{"ok": true, "slack": false}'
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "Missing now: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET" in out
    assert "manifest.yml" in out
    assert proc.returncode == 0


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", env={"TOKENBOT_PORT": "99999"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("tokenbot: bad setting TOKENBOT_PORT:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_audit_csv(tmp_path: Path) -> None:
    import asyncio
    import csv
    import io

    from bot.app import build_deps
    from bot.settings import load_settings

    async def seed() -> None:
        deps = await build_deps(load_settings(TOKENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
        await deps.requests.audit(int(time.time()), "U0BOSS", "approved", 7, {"amount_micros": 5})
        await deps.close()

    asyncio.run(seed())
    result = run(tmp_path, "audit", "--since", "2020-01-01")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["at", "actor", "action", "request_id", "detail"]
    assert rows[1][1:] == ["U0BOSS", "approved", "7", '{"amount_micros": 5}']
    assert run(tmp_path, "audit", "--since", "last week").returncode == 2


def test_sync_refuses_to_undo_changes_made_in_slack(tmp_path: Path) -> None:
    import asyncio

    from bot.app import build_deps
    from bot.settings import load_settings
    from storage.stores.org_admin import OrgAdminStore

    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    assert run(tmp_path, "org", "sync", str(org)).returncode == 0

    async def admin_edit() -> None:
        deps = await build_deps(load_settings(TOKENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
        team = await deps.org.team_by_slug("platform")
        await OrgAdminStore(deps.engine).set_team_budget(team.id, 2_000_000_000, "U0ADMIN", 0)
        await deps.close()

    asyncio.run(admin_edit())
    refused = run(tmp_path, "org", "sync", str(org))
    assert refused.returncode == 1 and "1 change(s) were made in Slack" in refused.stderr
    exported = run(tmp_path, "org", "export", str(tmp_path / "exported.yml"))
    assert exported.returncode == 0
    assert "monthly_budget_usd: 2000" in (tmp_path / "exported.yml").read_text()
    assert run(tmp_path, "org", "sync", str(tmp_path / "exported.yml")).stdout.startswith("no changes")
    forced = run(tmp_path, "org", "sync", str(org), "--force")
    assert "team platform: monthly budget $2,000.00 -> $1,000.00" in forced.stdout


def test_import_saved_provider_usage_pages(tmp_path: Path) -> None:
    import json

    from tests.support.fake_usage_api import anthropic_result, openai_result

    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML.replace("gateway_ids: [ada, sk-ada]", "gateway_ids: [ada, sk-ada, user-ada]"))
    run(tmp_path, "org", "sync", str(org))
    hour = (int(time.time()) // 3600 - 3) * 3600
    openai_page = {"object": "page", "has_more": False, "next_page": None, "data": [
        {"object": "bucket", "start_time": hour, "end_time": hour + 3600, "results": [
            openai_result(user_id="user-ada", api_key_id="key_1", model="gpt-4o", input_tokens=2_000_000,
                          output_tokens=0, requests=10)]}]}
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hour))
    iso_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(hour + 3600))
    anthropic_page = {"has_more": False, "next_page": None, "data": [
        {"starting_at": iso, "ending_at": iso_end, "results": [
            anthropic_result(api_key_id="apikey_9", workspace_id=None, model="claude-sonnet-4-5", uncached=1000,
                             output=10)]}]}
    (tmp_path / "openai.json").write_text(json.dumps(openai_page))
    (tmp_path / "anthropic.json").write_text(json.dumps([anthropic_page]))
    first = run(tmp_path, "usage", "import", str(tmp_path / "openai.json"))
    assert "1 accepted, 0 duplicates, 0 rejected" in first.stdout, first.stderr
    assert "1 accepted" in run(tmp_path, "usage", "import", str(tmp_path / "anthropic.json")).stdout
    assert "0 accepted, 1 duplicates" in run(tmp_path, "usage", "import", str(tmp_path / "openai.json")).stdout
    shown = run(tmp_path, "usage", "show", "--user", "ada@test.example").stdout
    assert "$5.00" in shown  # 2M input tokens of gpt-4o at $2.50/M, priced per request (200k each, one tier)


def test_usage_show_team_counts_approved_raises(tmp_path: Path) -> None:
    """`usage show --team` shows the budget `/tokens team` shows: the org file's plus this month's approved raises."""
    import asyncio
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.app import build_deps
    from bot.settings import load_settings

    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    assert run(tmp_path, "org", "sync", str(org)).returncode == 0
    now = int(time.time())
    month = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m")  # the team's

    async def seed() -> None:
        deps = await build_deps(load_settings(TOKENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
        team = await deps.org.team_by_slug("platform")
        ada = await deps.org.person_by_ref("ada@test.example")
        request = await deps.requests.create({
            "person_id": ada.id, "team_id": team.id, "requester_slack_id": "U0ADA", "amount_micros": 500_000_000,
            "reason": "evals", "period": "month", "month": month, "scope": "team", "status": "pending",
            "stage": "team", "context": {}, "remind_at": now + 10, "escalate_at": now + 20, "expires_at": now + 30},
            now)
        assert await deps.requests.decide(request.id, "team", "approved", "U0BOSS", now, adjustment={
            "scope": "team", "subject_id": team.id, "amount_micros": 500_000_000, "month": month})
        await deps.close()

    asyncio.run(seed())
    shown = run(tmp_path, "usage", "show", "--team", "platform")
    assert shown.returncode == 0, shown.stderr
    assert "budget $1,500.00: 0%" in shown.stdout  # $1,000 in the org file + the $500 raise
