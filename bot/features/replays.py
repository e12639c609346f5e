"""A signed Slack request with a side effect (a budget request, a form submission) has it once: its signature and
timestamp are recorded in the database, and the same request sent again (a replay inside Slack's 5-minute window,
captured or retried) is recognised, in any replica."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from bot.features.deps import Deps
from storage.stores.replays import ReplayStore


def replay_key(headers: Mapping[str, Sequence[str] | str]) -> str | None:
    """The key of a signed HTTP request (bolt's lower-cased headers), or None (Socket Mode has no signature: Slack
    sends each envelope once over the app's own connection)."""
    def first(name: str) -> str:
        value = headers.get(name) or ""
        return value if isinstance(value, str) else (value[0] if value else "")

    timestamp, signature = first("x-slack-request-timestamp"), first("x-slack-signature")
    if not timestamp or not signature:
        return None
    # The signature is an HMAC of timestamp and body: together they name the exact request.
    return hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()


async def first_delivery(deps: Deps, headers: Mapping[str, Sequence[str] | str]) -> bool:
    """True the first time this request is seen (or when it carries no signature); False for a replay."""
    key = replay_key(headers)
    if key is None:
        return True
    return await ReplayStore(deps.engine, deps.ledger).first_time(key, int(deps.clock.now().timestamp()))
