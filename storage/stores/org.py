"""Teams, people and their gateway aliases: syncing the org file, and the lookups the handlers need."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.org import (OrgFile, OrgInfo, Person, PersonSpec, SourceRule, Team, TeamSpec, steering_from_json,
                            steering_json)
from bot.domain.pricing import MICROS_PER_USD
from storage.tables.core import org_state, people, person_aliases, team_approvers, teams


@dataclass
class Directory:
    """What ingestion needs to attribute an event, held in memory and reloaded when the org revision moves."""

    revision: int
    person_by_alias: dict[str, tuple[int, int]]  # alias -> (person_id, team_id or 0)
    team_by_slug: dict[str, int]

    def attribute(self, user: str, team_slug: str | None) -> tuple[int | None, int]:
        """(person id or None, team id or 0) of a gateway user id (lower-cased) and the team the gateway named.
        The gateway's team wins when the org has it (a person may work for two teams), else the person's own."""
        person_id, team_id = self.person_by_alias.get(user, (None, 0))
        if team_slug is not None and team_slug in self.team_by_slug:
            team_id = self.team_by_slug[team_slug]
        return person_id, team_id


def _micros(usd: float | None) -> int | None:
    return None if usd is None else round(usd * MICROS_PER_USD)


def _usd(micros: int | None) -> str:
    return "none" if micros is None else f"${micros / MICROS_PER_USD:,.2f}"


class OrgStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def sync(self, org: OrgFile, now_ts: int) -> list[str]:
        """Make the database match the org file, in one transaction. Returns what changed, one line each."""
        changes: list[str] = []
        async with self.engine.begin() as conn:
            team_ids = await self._sync_teams(conn, org.teams, changes)
            from storage.stores.alerts import sync_alert_thresholds  # the teams' warning ladders (issue 4)
            await sync_alert_thresholds(conn, org.teams, team_ids)
            await self._sync_people(conn, org.people, team_ids, changes)
            state = (await conn.execute(select(org_state).where(org_state.c.id == 1))).mappings().first()
            org_values = {"org_name": org.name, "admins": list(org.admins), "help_contact": org.help_contact,
                          "finance_approvers": list(org.finance_approvers),
                          "max_request_micros": _micros(org.max_request_usd),
                          "max_pending_requests": org.max_pending_requests,
                          "price_overrides": {m: dataclasses.asdict(o) for m, o in org.prices},
                          "source_precedence": [{k: (list(v) if isinstance(v, tuple) else v)
                                                 for k, v in dataclasses.asdict(r).items()} for r in org.sources],
                          "steering": steering_json(org)}
            if state is None:
                await conn.execute(insert(org_state).values(id=1, revision=1, synced_at=now_ts, **org_values))
                changes.insert(0, f"org {org.name}: created")
            else:
                old = {k: (list(state[k] or []) if isinstance(v, list) else (dict(state[k] or {}) if isinstance(v, dict)
                           else state[k])) for k, v in org_values.items()}
                if old != org_values:
                    changes.insert(0, f"org {org.name}: " + ", ".join(
                        k.replace("_", " ") for k in org_values if old[k] != org_values[k]) + " updated")
                revision = state["revision"] + (1 if changes else 0)
                await conn.execute(update(org_state).where(org_state.c.id == 1)
                                   .values(revision=revision, synced_at=now_ts, slack_edits=0, **org_values))
        return changes

    async def _sync_teams(self, conn: AsyncConnection, specs: tuple[TeamSpec, ...], changes: list[str]) -> dict[str, int]:
        existing = {r["slug"]: r for r in (await conn.execute(select(teams))).mappings()}
        approvers: dict[int, set[str]] = {}
        for team_id, user in await conn.execute(select(team_approvers.c.team_id, team_approvers.c.slack_user_id)):
            approvers.setdefault(team_id, set()).add(user)
        ids: dict[str, int] = {}
        for spec in specs:
            values = {"name": spec.name, "channel": spec.channel, "timezone": spec.timezone,
                      "digest_time": spec.digest_time, "monthly_budget_micros": _micros(spec.monthly_budget_usd),
                      "digest_names_top_spenders": spec.digest_names_top_spenders, "active": True,
                      "approval_channel": spec.approvals.channel,
                      "auto_approve_micros": _micros(spec.approvals.auto_approve_usd),
                      "auto_approve_per_month": spec.approvals.auto_approve_per_month,
                      "escalate_above_micros": _micros(spec.approvals.escalate_above_usd),
                      "request_ttl_hours": spec.approvals.expires_hours, "enforcement": spec.enforcement}
            row = existing.get(spec.slug)
            if row is None:
                result = await conn.execute(insert(teams).values(slug=spec.slug, **values))
                team_id = result.inserted_primary_key[0]
                changes.append(f"team {spec.slug}: added (budget {_usd(values['monthly_budget_micros'])})")
            else:
                team_id = row["id"]
                diff = [k for k, v in values.items() if row[k] != v]
                if diff:
                    await conn.execute(update(teams).where(teams.c.id == team_id).values(**values))
                    changes.append(f"team {spec.slug}: " + ", ".join(_describe(k, row[k], values[k]) for k in diff))
            ids[spec.slug] = team_id
            want = set(spec.approvers)
            have = approvers.get(team_id, set())
            if want != have:
                await conn.execute(delete(team_approvers).where(team_approvers.c.team_id == team_id))
                if want:
                    await conn.execute(insert(team_approvers), [{"team_id": team_id, "slack_user_id": u} for u in sorted(want)])
                changes.append(f"team {spec.slug}: approvers {', '.join(sorted(want)) or 'none'}")
        for slug, row in existing.items():
            if slug not in ids and row["active"]:
                await conn.execute(update(teams).where(teams.c.id == row["id"]).values(active=False))
                changes.append(f"team {slug}: removed from the org file (kept as inactive; its history stays)")
        return ids

    async def _sync_people(self, conn: AsyncConnection, specs: tuple[PersonSpec, ...], team_ids: dict[str, int],
                           changes: list[str]) -> None:
        existing = {r["email"]: r for r in (await conn.execute(select(people))).mappings()}
        old_aliases: dict[int, set[str]] = {}
        for alias, person_id in await conn.execute(select(person_aliases.c.alias, person_aliases.c.person_id)):
            old_aliases.setdefault(person_id, set()).add(alias)
        wanted_slack = {s.slack_id for s in specs if s.slack_id}
        # Free Slack ids that move to someone else first, so the unique constraint never sees two owners.
        for email, row in existing.items():
            if row["slack_user_id"] in wanted_slack and not any(
                    s.email == email and s.slack_id == row["slack_user_id"] for s in specs):
                await conn.execute(update(people).where(people.c.id == row["id"]).values(slack_user_id=None))
        await conn.execute(delete(person_aliases))
        seen: set[str] = set()
        alias_rows: list[dict[str, object]] = []
        for spec in specs:
            row = existing.get(spec.email)
            values = {"name": spec.name, "team_id": team_ids.get(spec.team) if spec.team else None,
                      "monthly_budget_micros": _micros(spec.monthly_budget_usd), "active": True}
            if spec.slack_id:
                values["slack_user_id"] = spec.slack_id
            if row is None:
                result = await conn.execute(insert(people).values(email=spec.email, **values))
                person_id = result.inserted_primary_key[0]
                changes.append(f"person {spec.email}: added to {spec.team or 'no team'}")
            else:
                person_id = row["id"]
                diff = [k for k, v in values.items() if row[k] != v]
                if diff:
                    await conn.execute(update(people).where(people.c.id == person_id).values(**values))
                    changes.append(f"person {spec.email}: " + ", ".join(_describe(k, row[k], values[k]) for k in diff))
            seen.add(spec.email)
            aliases = set(spec.aliases)
            if row is not None and aliases != old_aliases.get(person_id, set()):
                changes.append(f"person {spec.email}: gateway ids {', '.join(sorted(aliases - {spec.email})) or 'none'}")
            alias_rows.extend({"alias": a, "person_id": person_id} for a in aliases)
        if alias_rows:
            await conn.execute(insert(person_aliases), alias_rows)
        for email, row in existing.items():
            if email not in seen and row["active"]:
                await conn.execute(update(people).where(people.c.id == row["id"]).values(active=False))
                changes.append(f"person {email}: removed from the org file (kept as inactive; their history stays)")

    async def directory(self) -> Directory:
        async with self.engine.connect() as conn:
            revision = await _revision(conn)
            team_by_slug = {slug: tid for tid, slug in await conn.execute(
                select(teams.c.id, teams.c.slug).where(teams.c.active))}
            rows = await conn.execute(select(person_aliases.c.alias, people.c.id, people.c.team_id)
                                      .join(people, people.c.id == person_aliases.c.person_id)
                                      .where(people.c.active))
            person_by_alias = {alias: (pid, tid or 0) for alias, pid, tid in rows}
        return Directory(revision=revision, person_by_alias=person_by_alias, team_by_slug=team_by_slug)

    async def revision(self) -> int:
        async with self.engine.connect() as conn:
            return await _revision(conn)

    async def org_info(self) -> OrgInfo:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(org_state).where(org_state.c.id == 1))).mappings().first()
        if row is None:
            return OrgInfo(name="your organisation", admins=(), help_contact=None, revision=0)
        return OrgInfo(name=row["org_name"] or "your organisation", admins=tuple(row["admins"] or ()),
                       help_contact=row["help_contact"], revision=row["revision"],
                       finance_approvers=tuple(row["finance_approvers"] or ()),
                       max_request_micros=row["max_request_micros"], max_pending_requests=row["max_pending_requests"],
                       price_overrides=dict(row["price_overrides"] or {}),
                       source_precedence=tuple(SourceRule(**{k: tuple(v) if isinstance(v, list) else v
                                                             for k, v in r.items()})
                                               for r in row["source_precedence"] or ()),
                       **dict(zip(("preferred_models", "steering"), steering_from_json(row["steering"]))))

    async def teams_approved_by(self, slack_user_id: str) -> frozenset[int]:
        async with self.engine.connect() as conn:
            return frozenset((await conn.execute(select(team_approvers.c.team_id).where(
                team_approvers.c.slack_user_id == slack_user_id))).scalars())

    async def person_by_slack_id(self, slack_user_id: str) -> Person | None:
        return await self._person(people.c.slack_user_id == slack_user_id)

    async def person_by_id(self, person_id: int) -> Person | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(people).where(people.c.id == person_id))).mappings().first()
        return _person(row) if row else None

    async def person_by_email(self, email: str) -> Person | None:
        return await self._person(people.c.email == email.strip().lower())

    async def person_by_ref(self, ref: str) -> Person | None:
        """A person by email, gateway id or Slack id (for the CLI)."""
        ref = ref.strip()
        person = await self.person_by_slack_id(ref) or await self.person_by_email(ref)
        if person is None:
            async with self.engine.connect() as conn:
                pid = (await conn.execute(select(person_aliases.c.person_id)
                                          .where(person_aliases.c.alias == ref.lower()))).scalar()
            if pid is not None:
                person = await self._person(people.c.id == pid)
        return person

    async def link_slack_id(self, person_id: int, slack_user_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(people).where(people.c.id == person_id).values(slack_user_id=slack_user_id))

    async def people_without_slack_id(self) -> list[Person]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(people).where(people.c.slack_user_id.is_(None), people.c.active)
                                       .order_by(people.c.id))).mappings().all()
        return [_person(r) for r in rows]

    async def team(self, team_id: int) -> Team | None:
        return await self._team(teams.c.id == team_id)

    async def team_by_slug(self, slug: str) -> Team | None:
        return await self._team(teams.c.slug == slug.strip().lower())

    async def _person(self, where) -> Person | None:  # noqa: ANN001
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(people).where(where, people.c.active))).mappings().first()
        return _person(row) if row else None

    async def _team(self, where) -> Team | None:  # noqa: ANN001
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(teams).where(where))).mappings().first()
            if row is None:
                return None
            approvers = tuple(sorted((await conn.execute(select(team_approvers.c.slack_user_id)
                                                         .where(team_approvers.c.team_id == row["id"]))).scalars()))
        return Team(id=row["id"], slug=row["slug"], name=row["name"], channel=row["channel"], timezone=row["timezone"],
                    digest_time=row["digest_time"], monthly_budget_micros=row["monthly_budget_micros"],
                    digest_names_top_spenders=row["digest_names_top_spenders"], approvers=approvers,
                    approval_channel=row["approval_channel"], auto_approve_micros=row["auto_approve_micros"],
                    auto_approve_per_month=row["auto_approve_per_month"],
                    escalate_above_micros=row["escalate_above_micros"], request_ttl_hours=row["request_ttl_hours"],
                    enforcement=row["enforcement"])

    async def active_teams(self) -> list[Team]:
        """Every active team (approvers are not loaded: digests and warnings do not need them)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(teams).where(teams.c.active).order_by(teams.c.id))).mappings().all()
        fields = set(Team.__dataclass_fields__)
        return [Team(**{k: v for k, v in r.items() if k in fields}, approvers=()) for r in rows]

    async def team_people(self, team_id: int) -> list[Person]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(people).where(people.c.team_id == team_id, people.c.active)
                                       .order_by(people.c.id))).mappings().all()
        return [_person(r) for r in rows]

    async def people_by_id(self, ids: list[int]) -> dict[int, Person]:
        if not ids:
            return {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(people).where(people.c.id.in_(ids)))).mappings().all()
        return {r["id"]: _person(r) for r in rows}

    async def budgeted_people(self) -> list[Person]:
        """Active people with a personal monthly budget."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(people).where(people.c.active, people.c.monthly_budget_micros.is_not(None))
                                       .order_by(people.c.id))).mappings().all()
        return [_person(r) for r in rows]

    async def counts(self) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            n_teams = (await conn.execute(select(func.count()).select_from(teams).where(teams.c.active))).scalar_one()
            n_people = (await conn.execute(select(func.count()).select_from(people).where(people.c.active))).scalar_one()
        return n_teams, n_people


async def _revision(conn: AsyncConnection) -> int:
    return (await conn.execute(select(org_state.c.revision).where(org_state.c.id == 1))).scalar() or 0


def _person(row) -> Person:  # noqa: ANN001
    return Person(id=row["id"], email=row["email"], slack_user_id=row["slack_user_id"], name=row["name"],
                  team_id=row["team_id"], monthly_budget_micros=row["monthly_budget_micros"])


def _describe(key: str, old: object, new: object) -> str:
    if key.endswith("_micros"):
        return f"{key.removesuffix('_micros').replace('_', ' ')} {_usd(old)} -> {_usd(new)}"  # type: ignore[arg-type]
    return f"{key.replace('_', ' ')} {old!r} -> {new!r}"
