"""The Snooze and Expected buttons on warnings, pressed as Slack sends them (signed block_actions): who may press,
what the card shows afterwards, that a press counts once, and that the next similar spike is then not warned about."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.domain.org import parse_org
from bot.features.warnings import scan
from storage.tables.alerts import warning_feedback
from storage.tables.requests import audit_log
from tests.conftest import NOW, ORG_YAML
from tests.support.blocks import block_texts
from tests.support.digests import blocks_of, message_text, poster, spend
from tests.support.slack_requests import block_action_body, wait_for

HOUR0 = datetime(2026, 11, 18, 15, tzinfo=UTC)  # NOW is 15:30 UTC


async def _history(bot) -> None:  # noqa: ANN001
    """Four weeks of Alan's ordinary use (about $2 an hour), Ada's one use three weeks ago (so she has a history: a
    person's first days are not judged) and budgets out of the way."""
    await spend(bot, [(HOUR0 - timedelta(hours=h) + timedelta(minutes=10), "alan", "gpt-4o", 2.0 + (h % 3) * 0.2)
                      for h in range(1, 28 * 24 + 8)] + [(HOUR0 - timedelta(days=20, hours=5), "ada", "gpt-4o", 0.5)],
                "h")
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("monthly_budget_usd: 1000", "monthly_budget_usd: 100000")
                                      .replace("monthly_budget_usd: 100}", "monthly_budget_usd: 100000}")),
                            int(NOW.timestamp()))


def spikes_to(bot, channel: str) -> list:  # noqa: ANN001
    return [c for c in bot.slack.posted if c.params["channel"] == channel and "Spend spike" in message_text(c)]


async def press(bot, card, action: str, user: str, key: str = "r1") -> None:  # noqa: ANN001
    blocks = blocks_of(card)
    value = next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"])
    message = {"ts": card.params["_ts"], "text": card.params["text"], "blocks": blocks}
    resp = await bot.sender.post(block_action_body(action, value, user, bot.slack.response_url(key), message=message,
                                                   channel_id=card.params["channel"]))
    assert resp.status == 200


async def count(bot, table) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


def updates(bot) -> list:  # noqa: ANN001
    return bot.slack.calls_to("chat.update")


async def test_expected_is_pressed_once_shows_on_the_card_and_quiets_the_next_similar_spike(bot) -> None:  # noqa: ANN001
    await _history(bot)
    await spend(bot, [(HOUR0 + timedelta(minutes=20), "ada", "claude-opus-4-1", 60.0)], "s1")
    await scan(bot.deps, poster(bot))
    [card] = spikes_to(bot, "C0PLAT")
    assert [e["text"]["text"] for b in blocks_of(card) if b["type"] == "actions" for e in b["elements"]] == \
        ["Snooze 24 h", "Expected"]

    # Alan is in the team but approves nothing: refused on the server, the card keeps its buttons.
    await press(bot, card, "warning_expected", "U0ALAN", "alan")
    await wait_for(lambda: bot.slack.responses)
    assert "Only the team's approvers or an admin" in bot.slack.responses[-1]["text"]
    assert updates(bot) == [] and await count(bot, warning_feedback) == 0

    # The approver and an admin press Expected at the same moment (a press delivered twice looks the same): one counts.
    await asyncio.gather(press(bot, card, "warning_expected", "U0BOSS", "boss"),
                         press(bot, card, "warning_expected", "U0ADMIN", "admin"))
    await wait_for(lambda: len(bot.slack.responses) >= 3 and updates(bot))
    await asyncio.sleep(0.2)
    [update] = updates(bot)
    assert await count(bot, warning_feedback) == 1
    [row] = await _audit(bot)
    winner, loser = row["actor"], ({"U0BOSS", "U0ADMIN"} - {row["actor"]}).pop()
    answers = {r["text"] for r in bot.slack.responses[1:]}
    assert f"Already marked expected by <@{winner}>." in answers
    assert "Noted: up to $60.00/h is normal for Platform for the next 30 days." in answers
    shown = block_texts(blocks_of(update))
    assert "Platform's AI spend 16:00–17:00 CET so far is $60.00" in shown  # the warning itself stays
    assert "Snooze 24 h" not in shown  # the buttons are gone
    assert f"Marked expected by <@{winner}>: spend up to $60.00/h is normal here until" in shown
    assert loser not in shown

    # The next day, at the same hour, a similar spike (Ada's $55): the team's channel hears nothing more.
    next_day = HOUR0 + timedelta(days=1)
    bot.clock.set(next_day + timedelta(minutes=30))
    await spend(bot, [(next_day + timedelta(minutes=20), "ada", "claude-opus-4-1", 55.0)], "s2")
    await scan(bot.deps, poster(bot))
    assert len(spikes_to(bot, "C0PLAT")) == 1


async def test_a_snoozed_person_is_not_warned_and_a_much_bigger_spike_after_expected_still_is(bot) -> None:  # noqa: ANN001
    await _history(bot)
    await spend(bot, [(HOUR0 + timedelta(minutes=20), "ada", "claude-opus-4-1", 60.0)], "s1")
    await scan(bot.deps, poster(bot))
    [dm] = spikes_to(bot, "U0ADA")
    [team_card] = spikes_to(bot, "C0PLAT")
    await press(bot, dm, "warning_snooze", "U0ADA", "ada")  # Ada herself may snooze her own warning
    await press(bot, team_card, "warning_expected", "U0BOSS", "boss")
    await wait_for(lambda: len(updates(bot)) == 2)
    texts = [block_texts(blocks_of(u)) for u in updates(bot)]
    assert any("Snoozed by <@U0ADA>" in t for t in texts)
    assert [r["action"] for r in await _audit(bot)] == ["warning_snooze", "warning_expected"]

    # Three hours later, five times the expected level: still news for the team; Ada is snoozed for a day.
    later = HOUR0 + timedelta(hours=4)
    bot.clock.set(later + timedelta(minutes=30))
    await spend(bot, [(later + timedelta(minutes=20), "ada", "claude-opus-4-1", 300.0)], "s2")
    await scan(bot.deps, poster(bot))
    assert len(spikes_to(bot, "C0PLAT")) == 2
    assert "$300.00" in message_text(spikes_to(bot, "C0PLAT")[-1])
    assert len(spikes_to(bot, "U0ADA")) == 1


async def test_a_tampered_button_is_refused(bot) -> None:  # noqa: ANN001
    body = block_action_body("warning_snooze", "spike:team:1:<!channel>", "U0ADMIN", bot.slack.response_url("t"))
    assert (await bot.sender.post(body)).status == 200
    await wait_for(lambda: bot.slack.responses)
    assert bot.slack.responses[-1]["text"] == "That button is broken: it names no warning."
    assert await count(bot, warning_feedback) == 0


async def _audit(bot) -> list[dict]:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.action.like("warning_%")).order_by(audit_log.c.id))
        return [dict(r) for r in rows.mappings()]


async def test_expected_on_a_budget_line_mutes_the_rest_of_the_month(bot) -> None:  # noqa: ANN001
    day = datetime(2026, 11, 10, 12, tzinfo=UTC)
    await spend(bot, [(day, "alan", "gpt-4o", 550.0)], "a")  # 55% of Platform's $1,000
    await scan(bot.deps, poster(bot))

    def lines() -> list:
        return [c for c in bot.slack.posted if c.params["channel"] == "C0PLAT" and "AI budget has passed" in message_text(c)]

    [card] = lines()
    assert "has passed 50%" in message_text(card)
    await press(bot, card, "warning_expected", "U0BOSS")
    await wait_for(lambda: updates(bot))
    assert "Marked expected by <@U0BOSS>: no more budget warnings this month until" in block_texts(
        blocks_of(updates(bot)[0]))
    await spend(bot, [(day + timedelta(hours=1), "alan", "gpt-4o", 300.0)], "b")  # 85%: past the 80% line
    await scan(bot.deps, poster(bot))
    assert len(lines()) == 1
    assert [r["action"] for r in await _audit(bot)] == ["warning_expected"]
