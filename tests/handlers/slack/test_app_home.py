"""App Home as Slack publishes it: admins see the spend nobody claims (escaped), until the org file claims it."""
from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta

from bot.domain.org import parse_org
from tests.conftest import NOW, ORG_YAML
from tests.handlers.slack.test_admin_and_home import assert_valid_home
from tests.support.blocks import block_texts
from tests.support.slack_requests import wait_for

_event_ids = itertools.count(1)


async def open_home(bot, user_id: str) -> dict:  # noqa: ANN001
    """Send app_home_opened as Slack does (signed) and return the view the bot then publishes for the user."""
    published = len(bot.slack.calls_to("views.publish"))
    event = {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
             "event_id": f"EvHome{next(_event_ids)}", "event_time": int(time.time()),
             "event": {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": "home"}}
    assert (await bot.sender.post(json.dumps(event))).status == 200
    call = await wait_for(lambda: bot.slack.calls_to("views.publish")[published:][:1])
    assert call[0].params["user_id"] == user_id
    view = call[0].params["view"]
    view = view if isinstance(view, dict) else json.loads(view)
    assert_valid_home(view)
    return view


def usage(event_id: str, user: str, cost_usd: float, ts: int) -> dict:
    return {"id": event_id, "timestamp": ts, "user": user, "model": "gpt-4o", "input_tokens": 100,
            "output_tokens": 10, "cost_usd": cost_usd}


async def test_admins_see_unclaimed_spend_until_the_org_file_claims_it(bot) -> None:  # noqa: ANN001
    now = int(NOW.timestamp())
    status, _ = await bot.ingest([
        usage("u1", "default-team-key", 12.5, now - 60),
        usage("u2", "default-team-key", 0.25, now - 3600),
        usage("u3", "<!channel>", 3.0, now - 120),
        usage("u4", "ada", 40.0, now - 60),                                                   # claimed
        usage("u5", "old-gateway-id", 70.0, int((NOW - timedelta(days=30)).timestamp())),    # October
    ])
    assert status == 200

    text = block_texts((await open_home(bot, "U0ADMIN"))["blocks"])
    assert "*Unclaimed spend this month*\n$15.75 in 3 requests that no person in the org file claims" in text
    assert "• `default-team-key`: $12.75 (2 requests)\n• `&lt;!channel&gt;`: $3.00 (1 request)" in text
    assert "<!channel>" not in text  # a gateway id never becomes a mention
    assert "old-gateway-id" not in text and "`ada`" not in text
    assert "`gateway_ids` in the org file" in text and "`key:&lt;hash&gt;`" in text  # the hint, as a context line

    for member in ("U0ADA", "U0BOSS"):  # a member and an approver: no unclaimed section
        assert "Unclaimed" not in block_texts((await open_home(bot, member))["blocks"])

    # `tokenbot org sync` with a file that names the id: its events move to the person and leave the section.
    org = ORG_YAML.replace("gateway_ids: [alan]", "gateway_ids: [alan, default-team-key]")
    await bot.deps.org.sync(parse_org(org), now)
    assert await bot.deps.ledger.reattribute(await bot.deps.ingestion.directory()) == 2
    text = block_texts((await open_home(bot, "U0ADMIN"))["blocks"])
    assert "default-team-key" not in text
    assert "$3.00 in 1 request that" in text and "• `&lt;!channel&gt;`: $3.00 (1 request)" in text


async def test_no_section_when_everything_is_claimed(bot) -> None:  # noqa: ANN001
    await bot.ingest([usage("c1", "ada", 5.0, int(NOW.timestamp()) - 60)])
    assert "Unclaimed" not in block_texts((await open_home(bot, "U0ADMIN"))["blocks"])
