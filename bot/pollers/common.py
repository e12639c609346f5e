"""What every poller shares: the report, and a JSON GET that backs off on 429 (Retry-After honoured, bounded)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

Sleep = Callable[[float], Awaitable[None]]

MAX_RETRIES_429 = 4
MAX_WAIT_S = 60.0
TIMEOUT = aiohttp.ClientTimeout(total=120, connect=15)


@dataclass
class PollReport:
    source: str
    accepted: int = 0  # new events stored by this poll
    duplicates: int = 0  # events the ledger already had (delivered earlier, or read before)
    rejected: int = 0  # items that could not be events (dead-lettered with the reason)
    pages: int = 0
    cursor: int | None = None  # read completely up to here (epoch seconds, UTC)
    error: str | None = None
    first: int | None = None  # where this read started (epoch seconds, UTC)
    notes: list[str] = field(default_factory=list)  # what the person who ran it should know (not errors)

    @property
    def ok(self) -> bool:
        return self.error is None

    def add(self, accepted: int, duplicates: int, rejected: int) -> None:
        self.accepted += accepted
        self.duplicates += duplicates
        self.rejected += rejected
        self.pages += 1

    def summary(self) -> str:
        upto = "nothing read yet" if self.cursor is None else f"read up to {iso(self.cursor)}"
        if self.first is not None and self.cursor is not None and self.cursor > self.first:
            upto = f"read {iso(self.first)} .. {iso(self.cursor)}"
        line = (f"{self.source}: {self.accepted:,} new events, {self.duplicates:,} already known, "
                f"{self.rejected:,} rejected, {self.pages:,} pages; {upto}")
        line += "".join(f"\n{self.source}: {note}" for note in self.notes)
        return line + (f"\n{self.source}: ERROR {self.error}" if self.error else "")


class PollError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_after_seconds(value: str | None, attempt: int) -> float:
    """Retry-After as seconds or an HTTP date; without one, 1, 2, 4, 8 s. Never more than MAX_WAIT_S."""
    wait: float | None = None
    if value:
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                wait = None
    if wait is None:
        wait = float(2 ** attempt)
    return min(max(wait, 0.0), MAX_WAIT_S)


async def get_json(http: aiohttp.ClientSession, url: str, *, params: list[tuple[str, str]] | dict[str, str],
                   headers: dict[str, str], what: str, sleep: Sleep = asyncio.sleep) -> Any:
    """GET -> parsed JSON. 429: wait as told and retry (bounded). Anything else not 2xx: PollError naming `what`."""
    for attempt in range(MAX_RETRIES_429 + 1):
        try:
            async with http.get(url, params=params, headers=headers) as resp:
                body = await resp.read()
                if resp.status == 429 and attempt < MAX_RETRIES_429:
                    await sleep(retry_after_seconds(resp.headers.get("Retry-After"), attempt))
                    continue
                if resp.status == 429:
                    raise PollError(f"{what} is still rate limiting (HTTP 429) after {MAX_RETRIES_429} retries", 429)
                if resp.status >= 400:
                    text = body[:300].decode("utf-8", "replace")
                    raise PollError(f"{what} answered HTTP {resp.status}: {text}", resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise PollError(f"{what} could not be reached: {exc.__class__.__name__}: {exc}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise PollError(f"{what} answered something that is not JSON: {body[:120]!r}") from None
    raise AssertionError("unreachable")


__all__ = ["PollReport", "PollError", "get_json", "retry_after_seconds", "iso", "Sleep", "TIMEOUT"]
