"""The hourly rollups hold exactly the sums of the raw events they were built from: on SQLite a person's rollup is
added to row by row (storage/stores/ledger.py, _SQLITE_ADD_PERSON_ROLLUPS), the team's summed per key first."""
from __future__ import annotations

from tests.conftest import NOW

HOUR = int(NOW.timestamp()) // 3600


def event(i: int, **extra: object) -> dict[str, object]:
    return {"id": f"roll-{i}", "timestamp": HOUR * 3600 + i, "user": "ada", "model": "gpt-4o", "provider": "openai",
            "input_tokens": 100 + i, "output_tokens": 10, "cached_input_tokens": i, "cost_usd": 0.01 * i, **extra}


async def test_many_events_on_one_key_replays_and_unpriced_ones_sum_exactly(bot) -> None:  # noqa: ANN001
    first = [event(i) for i in range(1, 6)]
    unpriced = [event(i, model="no-such-model-xyz", cost_usd=None) for i in (6, 7)]
    status, body = await bot.ingest(first)
    assert (status, body["accepted"]) == (200, 5)
    # The same five again (replays change nothing) in one batch with two new events of a model with no known price.
    status, body = await bot.ingest(first + unpriced)
    assert (status, body["accepted"], body["duplicates"]) == (200, 2, 5)

    directory = await bot.deps.ingestion.directory()
    ada, platform = directory.person_by_alias["ada"]
    ledger = bot.deps.ledger
    for rows in (await ledger.person_hours(ada, HOUR, HOUR), await ledger.team_hours(platform, HOUR, HOUR)):
        by_model = {r.model: (r.requests, r.input_tokens, r.output_tokens, r.cached_input_tokens, r.cost_micros,
                              r.unpriced_requests) for r in rows}
        assert by_model == {
            "gpt-4o": (5, 100 * 5 + 15, 50, 15, 10_000 * 15, 0),
            "no-such-model-xyz": (2, 213, 20, 13, 0, 2),
        }
