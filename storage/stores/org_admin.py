"""Admin changes made in Slack (budgets, approvers, digest channel), and the org-file export that lets git catch up."""
from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.stores.requests import audit
from storage.tables.core import org_state, people, person_aliases, team_approvers, teams


async def _changed(conn: AsyncConnection) -> None:
    """Bump the org revision (every process reloads) and count the edit (a sync from git would undo it)."""
    await conn.execute(update(org_state).where(org_state.c.id == 1).values(
        revision=org_state.c.revision + 1, slack_edits=org_state.c.slack_edits + 1))


class OrgAdminStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def set_team_budget(self, team_id: int, micros: int, actor: str, now_ts: int) -> None:
        async with self.engine.begin() as conn:
            old = (await conn.execute(select(teams.c.monthly_budget_micros).where(teams.c.id == team_id))).scalar()
            await conn.execute(update(teams).where(teams.c.id == team_id).values(monthly_budget_micros=micros))
            await audit(conn, now_ts, actor, "admin_team_budget", None, {"team_id": team_id, "old": old, "new": micros})
            await _changed(conn)

    async def set_person_budget(self, person_id: int, micros: int, actor: str, now_ts: int) -> None:
        async with self.engine.begin() as conn:
            old = (await conn.execute(select(people.c.monthly_budget_micros).where(people.c.id == person_id))).scalar()
            await conn.execute(update(people).where(people.c.id == person_id).values(monthly_budget_micros=micros))
            await audit(conn, now_ts, actor, "admin_person_budget", None, {"person_id": person_id, "old": old, "new": micros})
            await _changed(conn)

    async def set_approver(self, team_id: int, user_id: str, add: bool, actor: str, now_ts: int) -> bool:
        async with self.engine.begin() as conn:
            exists = (await conn.execute(select(team_approvers).where(
                team_approvers.c.team_id == team_id, team_approvers.c.slack_user_id == user_id))).first() is not None
            if exists == add:
                return False
            if add:
                await conn.execute(insert(team_approvers).values(team_id=team_id, slack_user_id=user_id))
            else:
                await conn.execute(delete(team_approvers).where(
                    team_approvers.c.team_id == team_id, team_approvers.c.slack_user_id == user_id))
            await audit(conn, now_ts, actor, "admin_add_approver" if add else "admin_remove_approver", None,
                        {"team_id": team_id, "user": user_id})
            await _changed(conn)
            return True

    async def set_digest_channel(self, team_id: int, channel: str, actor: str, now_ts: int) -> None:
        async with self.engine.begin() as conn:
            old = (await conn.execute(select(teams.c.channel).where(teams.c.id == team_id))).scalar()
            await conn.execute(update(teams).where(teams.c.id == team_id).values(channel=channel))
            await audit(conn, now_ts, actor, "admin_digest_channel", None, {"team_id": team_id, "old": old, "new": channel})
            await _changed(conn)

    async def slack_edits(self) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(org_state.c.slack_edits).where(org_state.c.id == 1))).scalar() or 0

    async def export_org(self) -> str:
        """The database's org as an org file (what `org sync` reads back unchanged). Resets the Slack-edit count."""
        async with self.engine.begin() as conn:
            state = (await conn.execute(select(org_state).where(org_state.c.id == 1))).mappings().first()
            team_rows = (await conn.execute(select(teams).where(teams.c.active).order_by(teams.c.id))).mappings().all()
            approvers: dict[int, list[str]] = {}
            for tid, user in await conn.execute(select(team_approvers.c.team_id, team_approvers.c.slack_user_id)
                                                .order_by(team_approvers.c.slack_user_id)):
                approvers.setdefault(tid, []).append(user)
            person_rows = (await conn.execute(select(people).where(people.c.active).order_by(people.c.id))).mappings().all()
            aliases: dict[int, list[str]] = {}
            for alias, pid in await conn.execute(select(person_aliases.c.alias, person_aliases.c.person_id)
                                                 .order_by(person_aliases.c.alias)):
                aliases.setdefault(pid, []).append(alias)
            extra = await _extra_team_settings(conn)
            if state is not None:
                await conn.execute(update(org_state).where(org_state.c.id == 1).values(slack_edits=0))
        slug_of = {t["id"]: t["slug"] for t in team_rows}
        doc: dict[str, Any] = {"org": _drop_none({
            "name": state["org_name"] if state else None, "admins": list(state["admins"] or []) if state else [],
            "help_contact": state["help_contact"] if state else None,
            "finance_approvers": list(state["finance_approvers"] or []) if state else [],
            "max_request_usd": _usd(state["max_request_micros"]) if state else None,
            "max_pending_requests": state["max_pending_requests"] if state else None})}
        doc["teams"] = []
        for t in team_rows:
            approvals = _drop_none({"channel": t["approval_channel"], "auto_approve_usd": _usd(t["auto_approve_micros"]) or None,
                                    "auto_approve_per_month": t["auto_approve_per_month"] or None,
                                    "escalate_above_usd": _usd(t["escalate_above_micros"]),
                                    "expires_hours": t["request_ttl_hours"] if t["request_ttl_hours"] != 72 else None})
            doc["teams"].append(_drop_none({
                "slug": t["slug"], "name": t["name"], "channel": t["channel"], "timezone": t["timezone"],
                "digest_time": t["digest_time"], "monthly_budget_usd": _usd(t["monthly_budget_micros"]),
                "approvers": approvers.get(t["id"], []), "digest_names_top_spenders": t["digest_names_top_spenders"],
                "approvals": approvals or None, **extra.get(t["id"], {})}))
        doc["people"] = []
        for p in person_rows:
            doc["people"].append(_drop_none({
                "email": p["email"], "slack_id": p["slack_user_id"], "name": p["name"],
                "team": slug_of.get(p["team_id"]), "gateway_ids": [a for a in aliases.get(p["id"], [])
                                                                 if a != p["email"] and not a.startswith("github:")],
                "github": [a.removeprefix("github:") for a in aliases.get(p["id"], []) if a.startswith("github:")] or None,
                "monthly_budget_usd": _usd(p["monthly_budget_micros"])}))
        header = "# Exported by `tokenbot org export`: the org as the database has it, including changes made in Slack.\n"
        return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def _usd(micros: int | None) -> float | int | None:
    if micros is None:
        return None
    value = micros / 1_000_000
    return int(value) if value == int(value) else value


async def _extra_team_settings(conn: AsyncConnection) -> dict[int, dict[str, Any]]:
    """Per-team settings kept by other features (e.g. the warning ladder), so the export round-trips them."""
    from storage.tables.core import metadata

    table = metadata.tables.get("team_alert_settings")
    if table is None:
        return {}
    return {tid: {"alert_thresholds": list(th)} for tid, th in await conn.execute(
        select(table.c.team_id, table.c.thresholds))}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != []}
