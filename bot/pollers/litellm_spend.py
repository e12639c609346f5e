"""LiteLLM spend-logs gap filler: reads LiteLLM's own request log and stores what the webhook never delivered.

LiteLLM's generic API logger drops events silently under load (measured here: 12-20% at ~100 req/s) and never
retries a batch. Every request also lands in LiteLLM's `LiteLLM_SpendLogs` table, readable page by page through
`GET /spend/logs/v2` (newer proxies) or `GET /spend/logs/ui` (same parameters and answer):
`start_date`/`end_date` as "YYYY-MM-DD HH:MM:SS" UTC (both inclusive, on startTime), `page` (from 1), `page_size`
(at most 100) -> `{"data": [...], "total", "page", "page_size", "total_pages"}`, newest first.

Rows go through the same mapper as the webhook (`bot.domain.litellm`), so a request the webhook delivered is a duplicate and
everything this poll accepts is exactly what the webhook missed. Time is read in windows that ended at least
`settle_s` ago (LiteLLM writes spend logs in batches, and a long request is logged when it ends); the cursor moves
to a window's end only once all its pages were read, so an error mid-window keeps what was read and the window is read
again next time (duplicates are no-ops)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from bot.features.deps import Deps
from bot.features.litellm_ingest import ingest_litellm_items
from bot.pollers.common import TIMEOUT, PollError, PollReport, Sleep, get_json, iso
from storage.stores.ingest_state import CursorStore

SOURCE = "litellm_spend"
ENDPOINTS = ("/spend/logs/v2", "/spend/logs/ui")
PAGE_SIZE = 100  # LiteLLM's maximum
WINDOW_S = 3600
SETTLE_S = 600
FIRST_LOOKBACK_S = 24 * 3600
MAX_WINDOWS_PER_POLL = 48


async def poll_litellm_spend(deps: Deps, *, settle_s: int = SETTLE_S, window_s: int = WINDOW_S,
                             first_lookback_s: int = FIRST_LOOKBACK_S, page_size: int = PAGE_SIZE,
                             max_windows: int = MAX_WINDOWS_PER_POLL, sleep: Sleep = asyncio.sleep) -> PollReport:
    """Read LiteLLM's spend logs from the cursor up to `now - settle_s`. `report.accepted` is how many events the
    webhook had missed."""
    report = PollReport(source="litellm")
    s = deps.settings
    if not s.litellm_url or s.litellm_admin_key is None:
        report.error = "not configured: set TOKENBOT_LITELLM_URL and TOKENBOT_LITELLM_ADMIN_KEY (an admin key)"
        return report
    cursors = CursorStore(deps.engine)
    now = int(deps.clock.now().timestamp())
    horizon = now - settle_s
    start = await cursors.get(SOURCE)
    if start is None:
        start = horizon - first_lookback_s
    report.cursor = start
    headers = {"Authorization": f"Bearer {s.litellm_admin_key.get_secret_value()}"}
    endpoint: str | None = None
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for _ in range(max_windows):
            if start >= horizon:
                break
            end = min(start + window_s, horizon)
            page = 1
            try:
                while True:
                    params = {"start_date": _litellm_time(start), "end_date": _litellm_time(end),
                              "page": str(page), "page_size": str(page_size)}
                    data, endpoint = await _get_page(http, s.litellm_url, endpoint, params, headers, sleep)
                    rows = data.get("data") if isinstance(data, dict) else None
                    if not isinstance(rows, list):
                        raise PollError(f"LiteLLM {endpoint} answered without a `data` list: {str(data)[:200]}")
                    if rows:
                        result = await ingest_litellm_items(deps.ingestion, rows, source=SOURCE)
                        report.add(result.accepted, result.duplicates, len(result.rejected))
                    total_pages = data.get("total_pages")
                    if not rows or not isinstance(total_pages, int) or page >= total_pages:
                        break
                    page += 1
            except PollError as exc:
                report.error = (f"{exc} (reading {iso(start)}..{iso(end)}, page {page}); what was read before is "
                                f"kept and this window is read again at the next poll")
                break
            await cursors.set(SOURCE, end, now)
            report.cursor = start = end
    return report


async def _get_page(http: aiohttp.ClientSession, base: str, endpoint: str | None, params: dict[str, str],
                    headers: dict[str, str], sleep: Sleep) -> tuple[object, str]:
    """One page; the first call finds which endpoint this LiteLLM has (v2, else the older /spend/logs/ui)."""
    candidates = (endpoint,) if endpoint else ENDPOINTS
    for i, path in enumerate(candidates):
        try:
            return await get_json(http, base + path, params=params, headers=headers, what=f"LiteLLM {path}",
                                  sleep=sleep), path
        except PollError as exc:
            if exc.status == 404 and i + 1 < len(candidates):
                continue
            raise
    raise AssertionError("unreachable")


def _litellm_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


__all__ = ["poll_litellm_spend", "SOURCE"]
