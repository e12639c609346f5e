"""The admins' morning digest: every team by risk of overrun, gateway estimate against the providers' bills, and the
latest warnings, as a DM to each org admin once a day (after TOKENBOT_ADMIN_DIGEST_HOUR UTC), exactly once."""
from __future__ import annotations

import logging
from typing import Any

from bot.features.deps import Deps
from bot.features.home import latest_warnings, reconciliation_line, team_risks
from bot.slack.blocks.home import team_line
from storage.stores.runs import RunLog

log = logging.getLogger(__name__)


def admin_digest_blocks(date_text: str, lines: list[str], reconciliation: str | None, warnings: list[str]
                        ) -> list[dict[str, Any]]:
    """Pure: the message. Teams are already sorted by risk."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": f"AI spend, all teams · {date_text}"}}]
    for i in range(0, min(len(lines), 150), 15):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines[i:i + 15])}})
    if len(lines) > 150:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {len(lines) - 150} more teams."}]})
    if reconciliation:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Reconciliation*\n{reconciliation}"}})
    if warnings:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "*Latest warnings*\n" + "\n".join(f"• {w}" for w in warnings[:8])}})
    return blocks


async def run_admin_digest(deps: Deps, runs: RunLog | None = None) -> int:
    """Send today's admin digest to every admin who has not had it; returns how many were sent."""
    now = deps.clock.now()
    if deps.slack is None or now.hour < deps.settings.admin_digest_hour:
        return 0
    runs = runs or RunLog(deps.engine)
    info = await deps.org.org_info()
    pending = {f"admin-digest:{now:%Y-%m-%d}:{a}": a for a in info.admins}
    pending = {k: a for k, a in pending.items() if k not in await runs.done_keys(pending)}
    if not pending:
        return 0
    risks = sorted(await team_risks(deps, await deps.org.active_teams()), key=lambda t: (-t.risk, -t.spent_micros, t.name))
    blocks = admin_digest_blocks(f"{now:%b %-d}", [team_line(t) for t in risks], await reconciliation_line(deps),
                                 await latest_warnings(deps))
    over = sum(1 for t in risks if t.budget_micros and t.projected_micros > t.budget_micros)
    text = f"AI spend: {over} of {len(risks)} teams are projected over budget this month"
    sent = 0
    for key, admin in pending.items():
        if not await runs.claim(key, int(now.timestamp()), 600):
            continue
        try:
            await deps.slack.post_message(admin, text, blocks)
        except Exception as exc:  # noqa: BLE001 - retried at the next run
            log.warning("admin digest to %s failed: %s", admin, exc)
            await runs.fail(key, int(now.timestamp()), str(exc)[:500])
            continue
        await runs.complete(key, int(now.timestamp()))
        sent += 1
    return sent
