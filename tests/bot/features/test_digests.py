"""Daily digests against the fake Slack on a real SQLite file, driven by a ManualClock."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.app import build_deps
from bot.features.digests import run_due_digests
from bot.domain.org import parse_org
from storage.stores.runs import RunLog
from tests.support.digests import blocks_of, message_text, poster, spend
from tests.conftest import ORG_YAML

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN)


async def _usage(bot) -> None:  # noqa: ANN001
    items = [(berlin(2026, 11, 17, 10), "ada", "gpt-4o", 30.0), (berlin(2026, 11, 17, 23, 30), "alan", "claude-sonnet-4-5", 10.0)]
    items += [(berlin(2026, 11, d, 12), "ada", "gpt-4o", 10.0) for d in range(10, 17)]  # the 7 days before: $10/day
    items += [(berlin(2026, 11, 2, 12), "ada", "gpt-4o", 100.0), (berlin(2026, 10, 31, 12), "ada", "gpt-4o", 999.0)]
    await spend(bot, items)


async def test_digest_goes_at_nine_local_with_the_figures_and_only_once(bot) -> None:
    await _usage(bot)
    p = poster(bot)
    bot.clock.set(berlin(2026, 11, 18, 8, 59))
    assert (await run_due_digests(bot.deps, p)).posted == []
    assert bot.slack.posted == []
    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    assert len((await run_due_digests(bot.deps, p)).posted) == 1
    assert [c.params["channel"] for c in bot.slack.posted] == ["C0PLAT"]
    shown = message_text(bot.slack.posted[0])
    assert "Platform AI spend Tue Nov 17: $40.00" in shown  # Ada's $30 + Alan's $10 (23:30 Berlin is still the 17th)
    assert "▲ +300% vs 7-day avg $10.00/day" in shown
    assert "Month to date $210.00 of $1,000.00 (21%)" in shown  # Oct 31 is last month
    assert "*Team budget*: $210.00 of $1,000.00 (21%)" in shown
    assert "`gpt-4o`: $30.00" in shown and "`claude-sonnet-4-5`: $10.00" in shown
    assert "*Active people yesterday*: 2" in shown  # the team does not name spenders
    assert "Ada" not in shown
    assert "*Budget requests pending*\n0" in shown
    image = [b for b in blocks_of(bot.slack.posted[0]) if b["type"] == "image"]
    assert len(image) == 1
    assert bot.slack.uploads[image[0]["slack_file"]["id"]].startswith(b"\x89PNG")
    # Later runs the same day (and New York's 09:00) post nothing more to Platform.
    for hh in (9, 12, 23):
        bot.clock.set(berlin(2026, 11, 18, hh, 59))
        await run_due_digests(bot.deps, p)
    assert [c.params["channel"] for c in bot.slack.posted] == ["C0PLAT", "C0RES"]  # research: 09:00 NY = 15:00 Berlin
    bot.clock.set(berlin(2026, 11, 19, 9, 0))
    await run_due_digests(bot.deps, p)
    assert [c.params["channel"] for c in bot.slack.posted] == ["C0PLAT", "C0RES", "C0PLAT"]


async def test_projection_and_top_spenders_when_the_team_allows_it(bot) -> None:
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("    approvers: [U0BOSS]",
                                                       "    approvers: [U0BOSS]\n    digest_names_top_spenders: true")),
                            int(bot.clock.now().timestamp()))
    await spend(bot, [(berlin(2026, 11, d, 12), "ada" if d % 2 else "alan", "gpt-4o", 100.0) for d in range(11, 18)]
                + [(berlin(2026, 11, 17, 13), "ada", "gpt-4o", 20.0)])
    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    await run_due_digests(bot.deps, poster(bot))
    shown = message_text(bot.slack.posted[0])
    assert "1. Ada: $120.00" in shown and "2. Alan" not in shown  # Alan spent nothing on the 17th
    # $720 this month; the last 7 days (Nov 12-17 + 9 h today) hold $620 over 6.375 days.
    rate = 620 / 6.375
    assert f"at ${rate:,.2f}/day" in shown
    runs_out = (berlin(2026, 11, 18, 9) + timedelta(days=(1000 - 720) / rate)).date()
    assert f"runs out *{runs_out:%b} {runs_out.day}*" in shown


async def test_two_processes_post_each_digest_once(bot) -> None:
    await _usage(bot)
    other = await build_deps(bot.deps.settings, bot.clock)  # a second bot process on the same SQLite file
    try:
        for minute in range(3):
            bot.clock.set(datetime(2026, 11, 18, 15, 30 + minute, tzinfo=UTC))  # both teams are due
            await asyncio.gather(run_due_digests(bot.deps, poster(bot)), run_due_digests(other, poster(bot)),
                                 run_due_digests(bot.deps, poster(bot)))
    finally:
        await other.close()
    assert sorted(c.params["channel"] for c in bot.slack.posted) == ["C0PLAT", "C0RES"]


async def test_failed_post_is_retried_next_minute_and_posted_once(bot) -> None:
    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    bot.slack.fail("chat.postMessage", error="channel_not_found")
    result = await run_due_digests(bot.deps, poster(bot))
    assert result.posted == [] and "channel_not_found" in result.failed[0][1]
    bot.clock.set(berlin(2026, 11, 18, 9, 1))
    assert len((await run_due_digests(bot.deps, poster(bot))).posted) == 1
    bot.clock.set(berlin(2026, 11, 18, 9, 2))
    await run_due_digests(bot.deps, poster(bot))
    assert len(bot.slack.posted) == 1
    assert len(bot.slack.calls_to("chat.postMessage")) == 2


async def test_restart_mid_run_is_taken_over_after_the_lease(bot) -> None:
    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    team = await bot.deps.org.team_by_slug("platform")
    dead = RunLog(bot.deps.engine, owner="dead-process")
    assert await dead.claim(f"digest:{team.id}:2026-11-18", int(bot.clock.now().timestamp()), 600)  # then it died
    bot.clock.set(berlin(2026, 11, 18, 9, 5))
    await run_due_digests(bot.deps, poster(bot))
    assert bot.slack.posted == []  # still leased to the dead process
    bot.clock.set(berlin(2026, 11, 18, 9, 11))
    await run_due_digests(bot.deps, poster(bot))
    await run_due_digests(bot.deps, poster(bot))
    assert [c.params["channel"] for c in bot.slack.posted] == ["C0PLAT"]


async def test_missed_digest_is_caught_up_once_on_start(bot) -> None:
    bot.clock.set(berlin(2026, 11, 18, 13, 42))  # the bot was down at 09:00
    await run_due_digests(bot.deps, poster(bot))
    await run_due_digests(bot.deps, poster(bot))
    assert [c.params["channel"] for c in bot.slack.posted] == ["C0PLAT"]
    assert "Tue Nov 17" in message_text(bot.slack.posted[0])


async def test_daylight_saving_days(bot) -> None:
    p = poster(bot)
    # Autumn: on Oct 25 Berlin goes from UTC+2 to UTC+1 at 03:00. The day before, 09:00 is 07:00 UTC.
    bot.clock.set(datetime(2026, 10, 24, 7, 0, tzinfo=UTC))
    await run_due_digests(bot.deps, p)
    assert len(bot.slack.posted) == 1
    await spend(bot, [(datetime(2026, 10, 24, 22, 0, tzinfo=UTC) + timedelta(hours=h), "ada", "gpt-4o", 1.0)
                      for h in range(25)], prefix="dst")  # every hour of the 25-hour local day Oct 25
    bot.clock.set(datetime(2026, 10, 25, 7, 0, tzinfo=UTC))  # 08:00 local now: not yet
    await run_due_digests(bot.deps, p)
    assert len(bot.slack.posted) == 1
    bot.clock.set(datetime(2026, 10, 25, 8, 0, tzinfo=UTC))  # 09:00 CET
    await run_due_digests(bot.deps, p)
    assert len(bot.slack.posted) == 2
    bot.clock.set(datetime(2026, 10, 26, 8, 0, tzinfo=UTC))
    await run_due_digests(bot.deps, p)
    assert "Platform AI spend Sun Oct 25: $25.00" in message_text(bot.slack.posted[2])  # all 25 hours
    # Spring: on Mar 29 09:00 CEST is 07:00 UTC.
    bot.clock.set(datetime(2027, 3, 29, 6, 59, tzinfo=UTC))
    await run_due_digests(bot.deps, p)
    assert len(bot.slack.posted) == 3
    bot.clock.set(datetime(2027, 3, 29, 7, 0, tzinfo=UTC))
    await run_due_digests(bot.deps, p)
    assert len(bot.slack.posted) == 4


async def test_rate_limit_storm_every_digest_delivered_once(bot) -> None:
    bot.slack.fail("chat.postMessage", status=429, retry_after=0, times=3)
    bot.slack.fail("chat.postMessage", status=503, times=1)
    result = await run_due_digests(bot.deps, poster(bot))  # 15:30 UTC: both teams due
    assert len(result.posted) == 2 and result.failed == []
    assert sorted(c.params["channel"] for c in bot.slack.posted) == ["C0PLAT", "C0RES"]
    assert len(bot.slack.calls_to("chat.postMessage")) == 6


async def test_chart_upload_failure_falls_back_to_a_text_chart(bot) -> None:
    await _usage(bot)
    bot.slack.fail("upload", status=403, times=1)
    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    await run_due_digests(bot.deps, poster(bot))
    assert len(bot.slack.posted) == 1
    assert not [b for b in blocks_of(bot.slack.posted[0]) if b["type"] == "image"]
    shown = message_text(bot.slack.posted[0])
    assert "*Last 30 days* (Oct 19 – Nov 17)" in shown
    assert "peak $999.00/day · budget pace $33.33/day · 3 day(s) above it" in shown  # Oct 31, Nov 2, Nov 17


async def test_an_upload_answer_without_the_file_falls_back_to_the_text_chart(bot) -> None:
    await _usage(bot)
    bot.slack.complete_upload_without_files = True  # Slack said ok but named no file: nothing to show in an image block
    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    result = await run_due_digests(bot.deps, poster(bot))
    assert result.failed == [] and len(bot.slack.posted) == 1
    assert not [b for b in blocks_of(bot.slack.posted[0]) if b["type"] == "image"]
    assert "*Last 30 days* (Oct 19 – Nov 17)" in message_text(bot.slack.posted[0])


async def test_min_interval_spaces_messages_per_channel() -> None:
    from bot.slack.outbox import SlackOutbox

    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(s: float) -> None:
        waits.append(round(s, 6))
        now[0] += s

    class Client:
        async def chat_postMessage(self, **kw):  # noqa: ANN003, ANN202, N802 - only the spacing is under test here
            class R:
                data = {"ok": True, "ts": "1"}
            return R()

    p = SlackOutbox(Client(), 0.25, sleep=fake_sleep, monotonic=lambda: now[0])  # type: ignore[arg-type]
    await asyncio.gather(*(p.post_message("C1", "x") for _ in range(3)), p.post_message("C2", "y"))
    assert waits == [0.25, 0.25]  # C1's 2nd and 3rd message waited; C2 did not


async def test_crash_after_posting_is_not_posted_again(bot) -> None:
    """A process posted the digest, then died before marking it done: the one that takes over finds it in the
    channel's history (by its message metadata) instead of posting a second copy."""
    from bot.features.digests import DIGEST_EVENT

    bot.clock.set(berlin(2026, 11, 18, 9, 0))
    team = await bot.deps.org.team_by_slug("platform")
    key = f"digest:{team.id}:2026-11-18"
    dead = RunLog(bot.deps.engine, owner="dead-process")
    assert await dead.claim(key, int(bot.clock.now().timestamp()), 600)
    await poster(bot).post_message("C0PLAT", "the digest", None,
                                   metadata={"event_type": DIGEST_EVENT, "event_payload": {"key": key}})
    bot.clock.set(berlin(2026, 11, 18, 9, 11))
    await run_due_digests(bot.deps, poster(bot))
    await run_due_digests(bot.deps, poster(bot))
    assert [c.params["channel"] for c in bot.slack.posted] == ["C0PLAT"]
    run = await RunLog(bot.deps.engine).get(key)
    assert run.status == "done" and "(found)" in run.detail
