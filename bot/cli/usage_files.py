"""Reading backfill files (JSON array, NDJSON or CSV) into the same items the HTTP endpoint takes."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson

from bot.domain.usage_events import BodyError, split_body

_INT_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "requests")


def read_usage_file(path: Path) -> list[Any]:
    data = path.read_bytes()
    if path.suffix.lower() == ".csv":
        text = data.decode("utf-8-sig")
        if is_litellm_spend_logs_csv(text):
            return litellm_spend_log_items(text)
        return list(csv_items(text))
    items = split_body(data)
    provider = provider_usage_items(items)
    return provider if provider is not None else items


def provider_usage_items(items: list[Any]) -> list[Any] | None:
    """Saved pages of OpenAI's `/v1/organization/usage/completions` or Anthropic's `usage_report/messages` (one page
    object, or an array of them) -> the same events the pollers make, with the same ids; None for other files."""
    from bot.pollers.anthropic_usage import anthropic_result_to_event, anthropic_span
    from bot.pollers.openai_usage import openai_result_to_event

    pages = [i for i in items if isinstance(i, dict) and isinstance(i.get("data"), list)]
    if not items or len(pages) != len(items):
        return None
    buckets = [b for page in pages for b in page["data"] if isinstance(b, dict)]
    if not buckets or not all("results" in b for b in buckets):
        return None
    events: list[Any] = []
    for bucket in buckets:
        if "starting_at" in bucket:
            start, end = anthropic_span(bucket)
            to_event = anthropic_result_to_event
        else:
            start, end = int(bucket["start_time"]), int(bucket["end_time"])
            to_event = openai_result_to_event
        try:
            events += [e for r in bucket["results"] if isinstance(r, dict) and (e := to_event(start, end, r)) is not None]
        except ValueError as exc:  # a result of an unknown shape: the whole file is refused, nothing stored as $0
            raise BodyError(f"a usage bucket starting {start} has a result of an unknown shape: {exc}") from None
    return events


def csv_items(text: str):  # noqa: ANN201
    """CSV rows with the event's field names as headers; numbers are converted only when they look like numbers,
    so a bad cell is rejected by the same validator (with the same reason) as in JSON."""
    for row in csv.DictReader(io.StringIO(text)):
        item: dict[str, Any] = {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
        for field in _INT_FIELDS:
            item[field] = _number(item.get(field))
        if "cost_usd" in item:
            item["cost_usd"] = _number(item["cost_usd"])
        ts = item.get("timestamp")
        if isinstance(ts, str) and ts.replace(".", "", 1).isdigit():
            item["timestamp"] = _number(ts)
        if isinstance(item.get("metadata"), str):
            try:
                item["metadata"] = orjson.loads(item["metadata"])
            except orjson.JSONDecodeError:
                pass  # left as a string: the validator rejects it with a clear reason
        yield {k: v for k, v in item.items() if v is not None}


_LITELLM_SPEND_LOG_COLUMNS = {"request_id", "spend", "startTime", "prompt_tokens", "completion_tokens", "model"}


def is_litellm_spend_logs_csv(text: str) -> bool:
    """A CSV export of LiteLLM's LiteLLM_SpendLogs table (recognised by its header)."""
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    return _LITELLM_SPEND_LOG_COLUMNS <= {h.strip().strip('"') for h in header}


def litellm_spend_log_items(text: str) -> list[Any]:
    """Each spend-log row through the LiteLLM mapper (same ids as the webhook and the poller, so nothing already
    delivered counts twice); a row that cannot be an event comes back as a Rejection with the reason."""
    from bot.features.litellm_ingest import map_items

    rows = [{k.strip(): v for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(text))]
    return map_items(rows)


def _number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


__all__ = ["read_usage_file", "csv_items", "BodyError"]
