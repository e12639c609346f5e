"""`tokenbot serve` start-up and shutdown an operator can trust, as real processes against the fake Slack: a token
Slack refuses is named in one line and the process exits 2; a database URL's password never reaches the output;
SIGTERM stops the process within seconds in HTTP mode and in Socket Mode."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import INGEST_TOKEN, ORG_YAML, SIGNING_SECRET
from tests.support.serve import ROOT, free_port, start_tokenbot, tokenbot_env

STOP_BOUND_S = 8  # what a supervisor's grace period allows (systemd 90 s, Kubernetes 30 s): "a few seconds"


def env_for(tmp_path: Path, slack, **extra: str) -> dict[str, str]:  # noqa: ANN001
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    env = tokenbot_env(f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}", org, free_port(), INGEST_TOKEN,
                       TOKENBOT_SCHEDULER_ENABLED="true")
    if slack is not None:
        env |= {"SLACK_BOT_TOKEN": "xoxb-good", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "TOKENBOT_SLACK_API_URL": slack.api_url}
    return env | extra


async def run_to_exit(env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "serve", cwd=ROOT, env=env,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    return proc.returncode, (out + err).decode()


async def test_a_bot_token_slack_refuses_is_one_line_and_exit_2(tmp_path: Path, fake_slack) -> None:  # noqa: ANN001
    fake_slack.bad_tokens = {"xoxb-revoked-0123456789"}
    code, output = await run_to_exit(env_for(tmp_path, fake_slack, SLACK_BOT_TOKEN="xoxb-revoked-0123456789"))
    assert code == 2
    assert output.strip() == "tokenbot: bad setting SLACK_BOT_TOKEN: Slack refused it (invalid_auth)"


async def test_an_app_token_slack_refuses_is_one_line_and_exit_2(tmp_path: Path, fake_slack) -> None:  # noqa: ANN001
    fake_slack.bad_tokens = {"xapp-1-mistyped-0123456789"}
    code, output = await run_to_exit(env_for(tmp_path, fake_slack, SLACK_APP_TOKEN="xapp-1-mistyped-0123456789"))
    assert code == 2
    assert output.strip() == "tokenbot: bad setting SLACK_APP_TOKEN: Slack refused it (invalid_auth)"
    assert fake_slack.sockets == 0


async def test_a_database_url_password_never_reaches_the_output(tmp_path: Path) -> None:
    for url, expected_code in (("mysql://tokenbot:hunter2-db-secret@db.example/x", 2),
                               ("postgresql+asyncpg://tokenbot:hunter2-db-secret@127.0.0.1:1/x", 1)):
        code, output = await run_to_exit(env_for(tmp_path, None, TOKENBOT_DATABASE_URL=url))
        assert code == expected_code, output
        assert "hunter2-db-secret" not in output
        assert len(output.strip().splitlines()) == 1, output
        assert output.startswith("tokenbot: ")


async def _stops_promptly(replica) -> None:  # noqa: ANN001
    replica.proc.send_signal(signal.SIGTERM)
    for _ in range(STOP_BOUND_S * 10):  # bounded polling, no timing assertion beyond the bound itself
        if replica.proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    else:
        replica.proc.kill()
        raise AssertionError(f"still running {STOP_BOUND_S} s after SIGTERM:\n{replica.log_tail()}")
    assert replica.proc.returncode == 0, replica.log_tail()


async def test_sigterm_stops_http_mode_within_seconds(tmp_path: Path, fake_slack) -> None:  # noqa: ANN001
    replica = await start_tokenbot("http", tmp_path, env_for(tmp_path, fake_slack))
    await _stops_promptly(replica)


async def test_sigterm_stops_socket_mode_within_seconds(tmp_path: Path, fake_slack) -> None:  # noqa: ANN001
    replica = await start_tokenbot("socket", tmp_path, env_for(tmp_path, fake_slack, SLACK_APP_TOKEN="xapp-1-good"))
    for _ in range(300):  # bounded: the Socket Mode connection is opened after the HTTP server
        if fake_slack.sockets:
            break
        await asyncio.sleep(0.1)
    assert fake_slack.sockets == 1, replica.log_tail()
    await _stops_promptly(replica)


async def test_slack_unreachable_at_start_up_is_not_a_refusal(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there: connection refused
    env = env_for(tmp_path, None, SLACK_BOT_TOKEN="xoxb-good", SLACK_SIGNING_SECRET=SIGNING_SECRET,
                  TOKENBOT_SLACK_API_URL=closed)
    replica = await start_tokenbot("offline", tmp_path, env)  # ingestion and health start; Slack calls retry later
    assert "could not check SLACK_BOT_TOKEN" in replica.log_tail()
    await _stops_promptly(replica)
