"""Admin changes from Slack: validated field by field, applied in one transaction each, audited."""
from __future__ import annotations

from bot.domain.format import escape, usd
from bot.domain.org import SLACK_CHANNEL_RE, SLACK_USER_RE
from bot.domain.requests import parse_amount
from bot.features.deps import Deps
from storage.stores.org_admin import OrgAdminStore

MAX_BUDGET_MICROS = 10**15  # $1bn a month: anything above is a typo


async def apply(deps: Deps, actor: str, fields: dict[str, str | None]) -> tuple[dict[str, str], str]:
    """Returns (errors by modal block, confirmation text). Re-checks that `actor` is an admin."""
    info = await deps.org.org_info()
    if actor not in info.admins:
        await deps.requests.audit(_now(deps), actor, "refused", None, {"action": "admin"})
        return {"action": "Only the org admins listed in the org file can change these."}, ""
    action = fields.get("action")
    admin_store = OrgAdminStore(deps.engine)
    team = await deps.org.team_by_slug(fields["team"]) if fields.get("team") else None
    now = _now(deps)
    if action in ("set_team_budget", "add_approver", "remove_approver", "set_digest_channel") and team is None:
        return {"team": "Choose a team."}, ""
    if action in ("set_team_budget", "set_person_budget"):
        amount = parse_amount(fields.get("amount") or "", MAX_BUDGET_MICROS)
        if isinstance(amount, str):
            return {"amount": amount[:150]}, ""
        if action == "set_team_budget":
            await admin_store.set_team_budget(team.id, amount, actor, now)  # type: ignore[union-attr]
            return {}, f"{escape(team.name)}'s monthly budget is now {usd(amount)}."  # type: ignore[union-attr]
        person = await deps.org.person_by_slack_id(fields.get("person") or "")
        if person is None:
            return {"person": "Choose a person who is in the org file."}, ""
        await admin_store.set_person_budget(person.id, amount, actor, now)
        return {}, f"<@{person.slack_user_id}>'s monthly budget is now {usd(amount)}."
    if action in ("add_approver", "remove_approver"):
        user = fields.get("person")
        if not user:
            return {"person": "Choose the approver."}, ""
        if not is_slack_user_id(user):
            return {"person": "Choose the approver from the list (a Slack user)."}, ""
        changed = await admin_store.set_approver(team.id, user, action == "add_approver", actor, now)  # type: ignore[union-attr]
        verb = "is now an approver" if action == "add_approver" else "is no longer an approver"
        if not changed:
            verb = "already was an approver" if action == "add_approver" else "was not an approver"
        return {}, f"<@{user}> {verb} of {escape(team.name)}."  # type: ignore[union-attr]
    if action == "set_digest_channel":
        channel = fields.get("channel")
        if not channel:
            return {"channel": "Choose a channel."}, ""
        if not is_slack_channel_id(channel):
            return {"channel": "Choose the channel from the list (a Slack channel)."}, ""
        if deps.slack is not None:
            problem = await deps.slack.channel_problem(channel)
            if problem:
                return {"channel": problem}, ""
        await admin_store.set_digest_channel(team.id, channel, actor, now)  # type: ignore[union-attr]
        return {}, f"{escape(team.name)}'s digests and warnings now go to <#{channel}>."  # type: ignore[union-attr]
    return {"action": "Choose what to change."}, ""


def is_slack_user_id(value: str) -> bool:
    return len(value) <= 32 and SLACK_USER_RE.fullmatch(value) is not None


def is_slack_channel_id(value: str) -> bool:
    return len(value) <= 32 and SLACK_CHANNEL_RE.fullmatch(value) is not None


def _now(deps: Deps) -> int:
    return int(deps.clock.now().timestamp())
