"""Helpers shared by the digest and warning tests: usage in, messages out."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.slack.outbox import SlackOutbox


def poster(bot: Any, interval: float = 0.0) -> SlackOutbox:
    """The real outbox against the fake Slack, without the 1 s spacing (tests never sleep for it)."""
    return SlackOutbox.from_settings(bot.deps.settings, min_interval_s=interval)


async def spend(bot: Any, items: list[tuple[datetime, str, str, float]], prefix: str = "e") -> None:
    """Ingest (when, user, model, usd) events over HTTP; the clock is moved past them meanwhile, then put back."""
    before = bot.clock.now()
    latest = max(when for when, *_ in items)
    if latest > before:
        bot.clock.set(latest)
    events = [{"id": f"{prefix}{i}", "timestamp": int(when.timestamp()), "user": user, "model": model,
               "input_tokens": 1000, "output_tokens": 100, "cost_usd": usd} for i, (when, user, model, usd) in enumerate(items)]
    for start in range(0, len(events), 2000):
        status, body = await bot.ingest(events[start:start + 2000])
        assert status == 200, body
    bot.clock.set(before)


def message_text(call: Any) -> str:
    """Everything a reader sees in a posted message: its text and every text in its blocks."""
    from tests.support.blocks import block_texts

    return str(call.params.get("text", "")) + "\n" + block_texts(call.params.get("blocks") or [])


def blocks_of(call: Any) -> list[dict]:
    import json

    blocks = call.params.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks
