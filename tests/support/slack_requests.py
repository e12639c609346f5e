"""Requests as Slack sends them to the bot: form-encoded, signed with the app's signing secret."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}


def slash_command_body(text: str, user_id: str, response_url: str, command: str = "/tokens") -> str:
    return urlencode({
        "token": "legacy-verification-token", "team_id": "T1", "team_domain": "test", "channel_id": "C0CHAN",
        "channel_name": "general", "user_id": user_id, "user_name": user_id.lower(), "command": command,
        "text": text, "api_app_id": "A1", "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": f"trigger-{user_id}",
    })


def block_action_body(action_id: str, value: str, user_id: str, response_url: str,
                      message: dict[str, Any] | None = None, channel_id: str = "C0CHAN") -> str:
    payload = {
        "type": "block_actions", "team": {"id": "T1", "domain": "test"}, "user": {"id": user_id, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": f"trigger-{user_id}", "response_url": response_url,
        "channel": {"id": channel_id}, "container": {"type": "message", "channel_id": channel_id},
        "message": message or {"ts": "1700000000.000100", "text": ""},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                     "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(callback_id: str, user_id: str, values: dict[str, dict[str, Any]],
                         private_metadata: str = "") -> str:
    payload = {
        "type": "view_submission", "team": {"id": "T1", "domain": "test"}, "user": {"id": user_id, "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": f"trigger-{user_id}",
        "view": {"id": "V1", "type": "modal", "callback_id": callback_id, "private_metadata": private_metadata,
                 "state": {"values": values}, "hash": "h"},
    }
    return urlencode({"payload": json.dumps(payload)})


async def wait_for(predicate, timeout: float = 5.0):  # noqa: ANN001, ANN201
    """Slack listeners finish after their ack: wait until what they do is visible."""
    import asyncio

    for _ in range(int(timeout / 0.02)):
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting for the bot")


class SlackSender:
    def __init__(self, session: aiohttp.ClientSession, events_url: str, secret: str) -> None:
        self.session = session
        self.events_url = events_url
        self.secret = secret

    async def post(self, body: str, *, secret: str | None = None, timestamp: int | None = None) -> aiohttp.ClientResponse:
        headers = sign(secret or self.secret, body, timestamp)
        if body.startswith("{"):
            headers["Content-Type"] = "application/json"  # Events API callbacks are JSON; commands are forms
        async with self.session.post(self.events_url, data=body.encode(), headers=headers) as resp:
            await resp.read()
            return resp

    async def post_json(self, body: str) -> tuple[int, Any]:
        """POST and return (status, parsed body or text): view submissions answer with JSON or nothing."""
        async with self.session.post(self.events_url, data=body.encode(), headers=sign(self.secret, body)) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def command(self, text: str, user_id: str, response_url: str) -> dict[str, Any]:
        body = slash_command_body(text, user_id, response_url)
        async with self.session.post(self.events_url, data=body.encode(), headers=sign(self.secret, body)) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()
