"""Budget threshold warnings and spike warnings, end to end: usage over HTTP, scan, messages in the fake Slack."""
from __future__ import annotations

from tests.support.blocks import block_texts

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.features.warnings import scan
from bot.app import build_deps
from bot.domain.org import OrgFileError, parse_org
from tests.support.digests import message_text, poster, spend
from tests.conftest import NOW, ORG_YAML


def texts(bot, channel: str) -> list[str]:  # noqa: ANN001
    return [message_text(c) for c in bot.slack.posted if c.params["channel"] == channel]


async def test_team_ladder_fires_once_per_line_and_rearms_after_a_raise(bot) -> None:
    p = poster(bot)
    day = datetime(2026, 11, 10, 12, tzinfo=UTC)
    await spend(bot, [(day, "alan", "gpt-4o", 400.0)], "a")
    await scan(bot.deps, p)
    assert texts(bot, "C0PLAT") == []
    await spend(bot, [(day, "alan", "gpt-4o", 150.0)], "b")
    await scan(bot.deps, p)
    await scan(bot.deps, p)
    assert len(texts(bot, "C0PLAT")) == 1
    assert "Platform's November AI budget has passed 50%: $550.00 of $1,000.00 (55%)" in texts(bot, "C0PLAT")[0]
    await spend(bot, [(day, "alan", "gpt-4o", 300.0)], "c")
    await scan(bot.deps, p)
    await spend(bot, [(day, "alan", "gpt-4o", 200.0)], "d")
    await scan(bot.deps, p)
    await scan(bot.deps, p)
    shown = texts(bot, "C0PLAT")
    assert len(shown) == 3
    assert "has passed 80%: $850.00 of $1,000.00 (85%)" in shown[1]
    assert "Platform's November AI budget is used up: $1,050.00 of $1,000.00 (105%)" in shown[2]
    # The budget goes up to $2,000: 52.5% used, so the 80% and 100% lines are armed again (50% stays fired).
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 2000")),
                            int(NOW.timestamp()))
    await scan(bot.deps, p)
    assert len(texts(bot, "C0PLAT")) == 3
    await spend(bot, [(day, "alan", "gpt-4o", 600.0)], "e")
    await scan(bot.deps, p)
    await scan(bot.deps, p)
    shown = texts(bot, "C0PLAT")
    assert len(shown) == 4
    assert "has passed 80%: $1,650.00 of $2,000.00 (82%)" in shown[3]


async def test_person_gets_one_dm_for_the_highest_line_crossed(bot) -> None:
    await spend(bot, [(datetime(2026, 11, 12, 9, tzinfo=UTC), "ada", "gpt-4o", 85.0)])
    await asyncio.gather(scan(bot.deps, poster(bot)), scan(bot.deps, poster(bot)))  # concurrent scans: still once
    dms = texts(bot, "U0ADA")
    assert len(dms) == 1
    assert "Your November AI budget has passed 80%: $85.00 of $100.00 (85%)" in dms[0]
    await spend(bot, [(datetime(2026, 11, 12, 10, tzinfo=UTC), "ada", "gpt-4o", 10.0)], "more")
    await scan(bot.deps, poster(bot))
    assert len(texts(bot, "U0ADA")) == 1  # 95%: no line crossed


async def test_ladder_is_configurable_per_team_and_validated(bot) -> None:
    yaml = ORG_YAML.replace("    approvers: [U0RBOSS]", "    approvers: [U0RBOSS]\n    alert_thresholds: [75, 100]")
    await bot.deps.org.sync(parse_org(yaml), int(NOW.timestamp()))
    await spend(bot, [(datetime(2026, 11, 12, 9, tzinfo=UTC), "grace", "gpt-4o", 3000.0)])  # 60% of $5,000
    await scan(bot.deps, poster(bot))
    assert texts(bot, "C0RES") == []
    await spend(bot, [(datetime(2026, 11, 12, 10, tzinfo=UTC), "grace", "gpt-4o", 800.0)], "b")  # 76%
    await scan(bot.deps, poster(bot))
    assert len(texts(bot, "C0RES")) == 1 and "passed 75%" in texts(bot, "C0RES")[0]
    with pytest.raises(OrgFileError) as err:
        parse_org(yaml.replace("[75, 100]", "[75, lots]"), "org.yml")
    line = yaml.splitlines().index("    alert_thresholds: [75, 100]") + 1
    assert f"org.yml:{line}: team `research`: alert_thresholds must be a list of whole percentages" in str(err.value)


async def test_spike_warns_once_per_episode_and_escalates(bot) -> None:
    hour0 = datetime(2026, 11, 18, 15, tzinfo=UTC)  # NOW is 15:30 UTC
    # Four weeks of ordinary use by Alan: about $2 an hour, every hour. Ada used it once, three weeks ago: she has a
    # history of nothing since (a person's first days are not judged).
    history = [(hour0 - timedelta(hours=h) + timedelta(minutes=10), "alan", "gpt-4o", 2.0 + (h % 3) * 0.2)
               for h in range(1, 28 * 24 + 8)]
    await spend(bot, history + [(hour0 - timedelta(days=20, hours=5), "ada", "gpt-4o", 0.5)], "h")
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 100000")),
                            int(NOW.timestamp()))  # keep the budget lines out of this test
    await spend(bot, [(hour0 + timedelta(minutes=20), "ada", "claude-opus-4-1", 60.0)], "s1")
    other = await build_deps(bot.deps.settings, bot.clock)  # a second process scanning at the same moment
    try:
        await asyncio.gather(scan(bot.deps, poster(bot)), scan(other, poster(bot)))
    finally:
        await other.close()
    team = [t for t in texts(bot, "C0PLAT") if "spike" in t]
    assert len(team) == 1
    assert ("*Spend spike*: Platform's AI spend 16:00–17:00 CET so far is $60.00, 30.0× the usual $2.00 for a "
            "Wednesday at this hour.") in team[0]
    assert "Mostly model `claude-opus-4-1` ($60.00) and Ada ($60.00)." in team[0]
    assert "month-end projection" in team[0] and "of the $100,000.00 budget" in team[0]
    assert len([t for t in texts(bot, "U0ADA") if "spike" in t]) == 1  # Ada's own spend spiked too: a DM
    # The same hour, a bit more: the same episode, no new message.
    bot.clock.set(NOW + timedelta(minutes=5))
    await spend(bot, [(hour0 + timedelta(minutes=33), "ada", "claude-opus-4-1", 10.0)], "s2")
    await scan(bot.deps, poster(bot))
    # Next hour it goes on at about the same level: still the same episode.
    bot.clock.set(hour0 + timedelta(hours=1, minutes=40))
    await spend(bot, [(hour0 + timedelta(hours=1, minutes=30), "ada", "claude-opus-4-1", 70.0)], "s3")
    await scan(bot.deps, poster(bot))
    assert len([t for t in texts(bot, "C0PLAT") if "spike" in t]) == 1
    # The hour after it has tripled: one escalation.
    bot.clock.set(hour0 + timedelta(hours=2, minutes=40))
    await spend(bot, [(hour0 + timedelta(hours=2, minutes=30), "ada", "claude-opus-4-1", 200.0)], "s4")
    await scan(bot.deps, poster(bot))
    await scan(bot.deps, poster(bot))
    team = [t for t in texts(bot, "C0PLAT") if "spike" in t]
    assert len(team) == 2
    assert "*Spend spike still growing*" in team[1] and "is $200.00" in team[1]
    # The admins' App Home lists the warnings sent; Ada's own was written to her ("Your AI spend"): there it names her.
    from bot.features.home import build_home

    admin = block_texts((await build_home(bot.deps, "U0ADMIN"))["blocks"])
    assert "*Spend spike*: Ada's AI spend 16:00–17:00 CET so far is $60.00" in admin
    assert "Your AI spend" not in admin


async def test_small_spend_stays_quiet(bot) -> None:
    hour0 = datetime(2026, 11, 18, 15, tzinfo=UTC)
    history = [(hour0 - timedelta(hours=h), "alan", "gpt-4o", 0.2) for h in range(1, 8 * 24)]
    await spend(bot, history + [(hour0 + timedelta(minutes=5), "alan", "gpt-4o", 3.0)])  # 15x, but only $3
    await scan(bot.deps, poster(bot))
    assert not [c for c in bot.slack.posted if "spike" in message_text(c)]


async def test_an_hour_that_keeps_growing_after_its_warning_escalates_within_the_hour(bot) -> None:
    hour0 = datetime(2026, 11, 18, 15, tzinfo=UTC)  # NOW is 15:30 UTC
    history = [(hour0 - timedelta(hours=h) + timedelta(minutes=10), "alan", "gpt-4o", 2.0 + (h % 3) * 0.2)
               for h in range(1, 28 * 24 + 8)]
    await spend(bot, history, "h")
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 100000")),
                            int(NOW.timestamp()))
    await spend(bot, [(hour0 + timedelta(minutes=10), "alan", "claude-opus-4-1", 45.0)], "s1")
    await scan(bot.deps, poster(bot))
    bot.clock.set(NOW + timedelta(minutes=5))
    await scan(bot.deps, poster(bot))  # nothing new yet: no second message
    # Same hour, the spend goes on: $170 by 15:40, more than twice the $45 warned about.
    bot.clock.set(NOW + timedelta(minutes=10))
    await spend(bot, [(hour0 + timedelta(minutes=35), "alan", "claude-opus-4-1", 125.0)], "s2")
    await scan(bot.deps, poster(bot))
    await scan(bot.deps, poster(bot))
    team = [t for t in texts(bot, "C0PLAT") if "spike" in t]
    assert len(team) == 2
    assert "*Spend spike*: Platform's AI spend 16:00–17:00 CET so far is $45.00" in team[0]
    assert "*Spend spike still growing*: Platform's AI spend 16:00–17:00 CET so far is $170.00" in team[1]
    # When the hour is complete it is judged once more: no third message for the same $170.
    bot.clock.set(hour0 + timedelta(hours=1, minutes=5))
    await scan(bot.deps, poster(bot))
    assert len([t for t in texts(bot, "C0PLAT") if "spike" in t]) == 2


async def test_a_new_persons_ordinary_first_days_are_no_spike_but_a_real_one_is(bot) -> None:
    hour0 = datetime(2026, 11, 18, 15, tzinfo=UTC)  # NOW is 15:30 UTC, a Wednesday
    # Alan's first ten days: $8 an hour 8:00-17:00 UTC on weekdays, 20 cents otherwise. Nothing before them: the four
    # weeks the scan reads must not count those days as hours of $0 (every busy hour would then look like a spike).
    history = [(t + timedelta(minutes=10), "alan", "gpt-4o", 8.0 if t.weekday() < 5 and 8 <= t.hour < 17 else 0.2)
               for h in range(1, 10 * 24) if (t := hour0 - timedelta(hours=h))]
    await spend(bot, history, "h")
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 100000")),
                            int(NOW.timestamp()))
    await spend(bot, [(hour0 + timedelta(minutes=10), "alan", "gpt-4o", 8.0)], "now")
    for h in range(3 * 24, -1, -1):  # his last three days scanned every hour, as the bot does every few minutes
        bot.clock.set(NOW - timedelta(hours=h))
        await scan(bot.deps, poster(bot))
    assert not [c for c in bot.slack.posted if "spike" in message_text(c)]
    # The same hour goes on to $80, ten times his usual: that is a spike, in his second week as in any other.
    bot.clock.set(NOW + timedelta(minutes=5))
    await spend(bot, [(hour0 + timedelta(minutes=32), "alan", "claude-opus-4-1", 72.0)], "burst")
    await scan(bot.deps, poster(bot))
    team = [t for t in texts(bot, "C0PLAT") if "spike" in t]
    assert len(team) == 1
    assert "*Spend spike*: Platform's AI spend 16:00–17:00 CET so far is $80.00, 10.0× the usual $8.00" in team[0]


async def test_a_rise_the_whole_team_shares_is_one_team_message_not_a_dm_to_each(bot) -> None:
    hour0 = datetime(2026, 11, 18, 15, tzinfo=UTC)  # NOW is 15:30 UTC
    # Four weeks of Ada and Alan at about $2 an hour each, every hour.
    history = [(hour0 - timedelta(hours=h) + timedelta(minutes=10), who, "gpt-4o", 2.0 + (h % 3) * 0.2)
               for h in range(1, 28 * 24 + 8) for who in ("ada", "alan")]
    await spend(bot, history, "h")
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 100000")
                                      .replace("monthly_budget_usd: 100}", "monthly_budget_usd: 100000}")),
                            int(NOW.timestamp()))  # keep the budget lines out of this test
    # This hour both run at six times that (a pricier model made everyone's default): the team's spike.
    await spend(bot, [(hour0 + timedelta(minutes=20), who, "claude-opus-4-1", 12.0) for who in ("ada", "alan")], "s")
    await scan(bot.deps, poster(bot))
    team = [t for t in texts(bot, "C0PLAT") if "spike" in t]
    assert len(team) == 1 and "Platform's AI spend 16:00–17:00 CET so far is $24.00, 6.0× the usual $4.00" in team[0]
    assert [t for t in texts(bot, "U0ADA") + texts(bot, "U0ALAN") if "spike" in t] == []
    # Two hours later Ada alone runs at $40 while Alan is back to $2: hers, so a DM.
    bot.clock.set(NOW + timedelta(hours=2))
    await spend(bot, [(hour0 + timedelta(hours=h, minutes=20), "alan", "gpt-4o", 2.0) for h in (1, 2)]
                + [(hour0 + timedelta(hours=1, minutes=20), "ada", "gpt-4o", 2.0),
                   (hour0 + timedelta(hours=2, minutes=20), "ada", "claude-opus-4-1", 40.0)], "s2")
    await scan(bot.deps, poster(bot))
    ada = [t for t in texts(bot, "U0ADA") if "spike" in t]
    assert len(ada) == 1 and "Your AI spend 18:00–19:00 CET so far is $40.00, 18.2× the usual $2.20" in ada[0]
    assert [t for t in texts(bot, "U0ALAN") if "spike" in t] == []
