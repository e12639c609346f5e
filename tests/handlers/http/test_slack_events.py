"""`/slack/events` before bolt: unsigned or badly signed requests get a 401 and one short log line (never the body);
signed bodies Slack would never send get a 400; a client too slow to send its body gets a 408. Never a 5xx."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from tests.conftest import SIGNING_SECRET
from tests.support.running import running_bot
from tests.support.slack_requests import sign, slash_command_body


async def raw_post(bot, body: bytes, headers: dict[str, str]) -> tuple[int, str]:  # noqa: ANN001
    async with bot.http.post(f"{bot.url}/slack/events", data=body, headers=headers) as resp:
        return resp.status, await resp.text()


def signed(body: str) -> dict[str, str]:
    return sign(SIGNING_SECRET, body)


async def test_unsigned_and_badly_signed_requests_are_401_and_logged_without_the_body(bot, caplog) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG)
    marker = "SECRET-LOOKING-BODY-" + "x" * 200_000
    command = slash_command_body(f"request 50 {marker}", "U0ADA", bot.slack.response_url())
    cases = {
        "no headers": ({"Content-Type": "application/x-www-form-urlencoded"}, "missing"),
        "wrong secret": (sign("not-the-secret", command), "does not match"),
        "stale": (sign(SIGNING_SECRET, command, int(time.time()) - 600), "stale"),
        "timestamp not a number": (signed(command) | {"X-Slack-Request-Timestamp": "12ab"}, "not epoch seconds"),
        "timestamp huge": (signed(command) | {"X-Slack-Request-Timestamp": "9" * 40}, "not epoch seconds"),
    }
    for name, (headers, reason) in cases.items():
        status, text = await raw_post(bot, command.encode(), headers)
        assert status == 401, (name, status, text)
        assert reason in json.loads(text)["error"], name
    assert "SECRET-LOOKING-BODY" not in caplog.text
    refused = [r.getMessage() for r in caplog.records if "slack request refused" in r.getMessage()]
    assert len(refused) == len(cases) and all(f"POST /slack/events, {len(command)} bytes" in m for m in refused)
    assert all(len(m) < 300 for m in refused)
    assert not bot.slack.calls and not bot.slack.responses  # nothing reached bolt


@pytest.mark.parametrize("body, reason", [
    ("payload=not-json", "not valid JSON"),
    ("payload=" + "%5B" * 5000, "not valid JSON"),
    ("payload=%5B1%2C2%5D", "not a JSON object"),
    ("payload=%7B%7D", "payload has no type"),
    ("{not json", "not valid JSON"),
    ('{"a": ' * 3000 + "1" + "}" * 3000, "not valid JSON"),
    ("[1, 2]", "neither a slash command nor an interaction"),
    ("hello=world", "neither a slash command nor an interaction"),
])
async def test_signed_bodies_slack_never_sends_are_400(bot, body: str, reason: str) -> None:  # noqa: ANN001
    status, text = await raw_post(bot, body.encode(), signed(body))
    assert status == 400, (status, text)
    assert reason in json.loads(text)["error"]


async def test_unsigned_garbage_is_401_never_500(bot) -> None:  # noqa: ANN001
    for body in (b"payload=not-json", b"{not json", b"\xff\xfe\x00", b""):
        status, _ = await raw_post(bot, body, {"X-Slack-Request-Timestamp": "now", "X-Slack-Signature": "v0=x"})
        assert status == 401


async def test_a_body_above_a_mebibyte_is_413(bot) -> None:  # noqa: ANN001
    body = "payload=" + "x" * (1024 * 1024 + 10)
    status, _ = await raw_post(bot, body.encode(), signed(body))
    assert status == 413


async def test_signed_requests_still_work(bot) -> None:  # noqa: ANN001
    answer = await bot.sender.command("help", "U0ADA", bot.slack.response_url())
    assert "/tokens" in answer["text"]


async def test_a_slow_body_gets_408_and_the_connection_closed(tmp_path: Path, fake_slack, database_url) -> None:  # noqa: ANN001
    async with running_bot(tmp_path, database_url, fake_slack, TOKENBOT_BODY_READ_TIMEOUT_S=0.3) as bot:
        port = int(bot.url.rsplit(":", 1)[1])
        for path in ("/slack/events", "/v1/usage"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                         f"Authorization: Bearer ingest-token-abc\r\n\r\n".encode() + b"[" * 10)
            await writer.drain()
            head = await asyncio.wait_for(reader.read(200), timeout=10)  # bounded: the server answers on its own
            assert head.startswith(b"HTTP/1.1 408"), head
            assert await asyncio.wait_for(reader.read(), timeout=10) is not None  # then closes
            writer.close()
