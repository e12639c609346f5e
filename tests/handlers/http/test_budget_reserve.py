"""POST /v1/budget/reserve: hard caps reserve a request's estimated cost atomically and its usage event settles it;
soft caps write nothing. Over HTTP into the running bot, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.domain.org import parse_org
from storage.stores.reservations import Reservations
from storage.tables.ingest import budget_reservations, settled_reservations
from tests.conftest import INGEST_TOKEN, NOW, ORG_YAML

HARD_ORG = ORG_YAML.replace("    approvers: [U0BOSS]", "    approvers: [U0BOSS]\n    enforcement: hard")
# gpt-4o list price: $2.50 / M input, $10 / M output: 1,000 in + 1,000 out = $0.0125
ASK = {"model": "gpt-4o", "provider": "openai", "input_tokens": 1000, "max_tokens": 1000}
ESTIMATE = 0.0125


async def reserve(bot, call_id: str, user: str = "ada", token: str = INGEST_TOKEN, **over: object) -> tuple[int, dict]:  # noqa: ANN001
    body = ASK | {"call_id": call_id, "end_user": user,
                  "metadata": {"user_api_key_user_id": "default_user_id"}} | over  # a master key: the user field counts
    async with bot.http.post(f"{bot.url}/v1/budget/reserve", json=body,
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def spend(bot, event_id: str, usd: float, user: str = "ada", at=None) -> None:  # noqa: ANN001
    ts = int((at or NOW - timedelta(minutes=1)).timestamp())
    status, body = await bot.ingest([{"id": event_id, "timestamp": ts, "user": user, "model": "gpt-4o",
                                      "input_tokens": 1000, "output_tokens": 100, "cost_usd": usd}])
    assert status == 200 and body["accepted"] == 1, body


async def held(bot) -> tuple[int, int]:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        count, total = (await conn.execute(select(func.count(), func.coalesce(func.sum(
            budget_reservations.c.amount_micros), 0)))).one()
    return int(count), int(total)


async def test_hard_cap_admits_while_spent_plus_held_fits_and_the_event_settles(bot) -> None:
    await bot.deps.org.sync(parse_org(HARD_ORG), 0)
    await spend(bot, "earlier", 99.94)  # $0.06 left: four requests of $0.0125
    answers = [await reserve(bot, f"call-{i}") for i in range(5)]
    assert [a[1]["allowed"] for a in answers] == [True, True, True, True, False]
    assert answers[0][1]["reserved_usd"] == ESTIMATE and answers[0][1]["enforcement"] == "hard"
    refused = answers[4][1]
    assert refused["reason"].startswith("personal budget cannot cover this request")
    assert refused["person"]["spent_usd"] == 99.94 and refused["person"]["reserved_usd"] == 4 * ESTIMATE
    assert refused["reserved_usd"] == 0.0
    assert await held(bot) == (4, 4 * 12_500)
    # call-0's usage arrives (the plugin's event id): its $0.0125 moves from held to a spent $0.002
    await spend(bot, "litellm:call-0", 0.002)
    assert await held(bot) == (3, 3 * 12_500)
    status, body = await reserve(bot, "call-5")  # 99.942 spent + 3 x 0.0125 held + 0.0125 <= 100
    assert status == 200 and body["allowed"] is True
    assert body["person"]["spent_usd"] == 99.942 and body["person"]["reserved_usd"] == 0.0375


async def test_concurrent_reservations_never_admit_past_the_budget(bot) -> None:
    await bot.deps.org.sync(parse_org(HARD_ORG), 0)
    await spend(bot, "earlier", 99.9)  # room for exactly 8
    answers = await asyncio.gather(*(reserve(bot, f"c-{i}") for i in range(40)))
    assert all(status == 200 for status, _ in answers)
    assert sum(body["allowed"] for _, body in answers) == 8
    assert await held(bot) == (8, 8 * 12_500)


async def test_reused_call_id_is_refused_and_a_retried_reservation_is_idempotent(bot) -> None:
    await bot.deps.org.sync(parse_org(HARD_ORG), 0)
    assert (await reserve(bot, "same"))[1]["allowed"]
    assert (await reserve(bot, "same"))[1]["allowed"]  # the plugin retrying after a timeout
    assert await held(bot) == (1, 12_500)
    await spend(bot, "litellm:same", 0.01)
    _, body = await reserve(bot, "same")
    assert body["allowed"] is False and "already used" in body["reason"]
    # A finished request's id is remembered until its reservation would have expired; then housekeeping forgets it
    # and a reuse is another request (its event, at another time, is counted: storage/tables/core.py).
    bot.clock.advance(timedelta(seconds=bot.deps.settings.reservation_ttl_s + 1))
    await Reservations(bot.deps.engine, bot.deps.ledger.writer).drop_expired(int(bot.clock.now().timestamp()))
    async with bot.deps.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(settled_reservations))).scalar_one() == 0
    assert (await reserve(bot, "same"))[1]["allowed"]


async def test_expired_reservations_stop_counting(bot) -> None:
    await bot.deps.org.sync(parse_org(HARD_ORG), 0)
    await spend(bot, "earlier", 99.99)
    await bot.deps.org.sync(parse_org(HARD_ORG.replace("monthly_budget_usd: 100}", "monthly_budget_usd: 100.01}")), 0)
    assert (await reserve(bot, "a"))[1]["allowed"]
    assert not (await reserve(bot, "b"))[1]["allowed"]
    bot.clock.advance(timedelta(seconds=bot.deps.settings.reservation_ttl_s + 1))
    assert (await reserve(bot, "b"))[1]["allowed"]  # "a" never settled and expired
    from storage.stores.reservations import Reservations

    housekeeping = Reservations(bot.deps.engine, bot.deps.ledger.writer)  # the scheduler's expired-reservations job
    assert await housekeeping.drop_expired(int(bot.clock.now().timestamp())) == 1  # "a" goes, "b" stays
    assert await held(bot) == (1, 12_500)


async def test_the_month_follows_the_teams_timezone(bot) -> None:
    await bot.deps.org.sync(parse_org(HARD_ORG), 0)
    # 23:30 UTC on Oct 31 is already November in Berlin (platform's timezone): it counts against November.
    await spend(bot, "halloween", 99.99, at=NOW.replace(month=10, day=31, hour=23, minute=30))
    _, body = await reserve(bot, "x")
    assert body["allowed"] is False and body["person"]["spent_usd"] == 99.99
    await spend(bot, "october", 50.0, user="alan", at=NOW.replace(month=10, day=31, hour=22, minute=30))
    _, body = await reserve(bot, "y", user="alan")  # 23:30 Berlin on Oct 31: last month
    assert body["allowed"] is True and body["team"]["spent_usd"] == 99.99


async def test_soft_caps_and_unknown_users_write_nothing(bot) -> None:
    await spend(bot, "earlier", 150.0)
    status, body = await reserve(bot, "s1")
    assert status == 200 and body["allowed"] is True and body["reserved_usd"] == 0.0
    assert body["reason"].startswith("personal budget used up (soft cap")
    _, body = await reserve(bot, "s2", user="stranger")
    assert body["allowed"] is True and body["reason"] == "unknown user: not in the org file"
    assert await held(bot) == (0, 0)


async def test_estimate_uses_the_persons_typical_output_without_max_tokens(bot) -> None:
    await bot.deps.org.sync(parse_org(HARD_ORG), 0)
    _, body = await reserve(bot, "first", max_tokens=None)  # no history: 1,024 output tokens assumed
    assert body["reserved_usd"] == round(1000 * 2.5e-6 + 1024 * 10e-6, 6)
    await spend(bot, "litellm:first", 0.0035)  # 100 output tokens
    _, body = await reserve(bot, "second", max_tokens=None)  # "no history" is kept a minute: still the default
    assert body["reserved_usd"] == round(1000 * 2.5e-6 + 1024 * 10e-6, 6)
    bot.clock.advance(timedelta(seconds=61))
    _, body = await reserve(bot, "third", max_tokens=None)
    assert body["reserved_usd"] == round(1000 * 2.5e-6 + 100 * 10e-6, 6)


async def test_bad_requests_get_clear_errors(bot) -> None:
    assert (await reserve(bot, "t", token="nope"))[0] == 401
    status, body = await reserve(bot, "", )
    assert status == 400 and body["error"].startswith("call_id: required")
    status, body = await reserve(bot, "t", input_tokens=-1)
    assert status == 400 and body["error"].startswith("input_tokens:")
    status, body = await reserve(bot, "t", estimate_usd="lots")
    assert status == 400 and body["error"].startswith("estimate_usd:")
    async with bot.http.post(f"{bot.url}/v1/budget/reserve", data=b"{not json",
                             headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "the body must be a JSON object"
