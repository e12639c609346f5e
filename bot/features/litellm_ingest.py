"""LiteLLM items (logging payloads or spend-log rows) -> mapped events -> validated -> ledger, failures counted.

Shared by the webhook (`POST /v1/ingest/litellm`), the spend-logs gap filler and file imports, so a request is the
same event (same id, same fields) whichever way it arrives."""
from __future__ import annotations

from typing import Any

from bot.features.ingestion import IngestReport, Ingestion
from bot.domain.litellm import litellm_to_event
from bot.domain.usage_events import Rejection


def map_items(items: list[Any]) -> list[Any]:
    """Pure: each item as a generic event dict, or a Rejection (index fixed later by parse_events)."""
    out: list[Any] = []
    for i, item in enumerate(items):
        if isinstance(item, Rejection):
            out.append(item)
            continue
        mapped = litellm_to_event(item)
        out.append(Rejection(i, mapped, item) if isinstance(mapped, str) else mapped)
    return out


async def ingest_litellm_items(ingestion: Ingestion, items: list[Any], source: str = "litellm") -> IngestReport:
    """LiteLLM payloads through the mapper, then the same validation, ledger and dead letters as /v1/usage."""
    return await ingestion.ingest_items(map_items(items), source)


__all__ = ["map_items", "ingest_litellm_items"]
