"""May this gateway user still spend?

- `check` (`GET /v1/budget/check`): answered from memory, refreshed every few seconds (one indexed read per person
  and per team on a miss), so a gateway can ask before every request. Good for soft caps and dashboards.
- `reserve` (`POST /v1/budget/reserve`, the LiteLLM plugin's pre-call hook): for a hard cap, the request's estimated
  cost is reserved in the database in one atomic decision (storage/reservations.py) and settled when its usage event
  arrives, so concurrency and replicas cannot overshoot by more than the estimates in flight. Soft caps and people
  without a hard budget are answered like `check`: no write."""
from __future__ import annotations

import time
from datetime import datetime
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.budget import effective_budget, month_start, raised_in
from bot.features.deps import Deps
from bot.domain.pricing import MICROS_PER_USD
from storage.db import is_sqlite, make_engine
from storage.stores.org import Directory
from storage.stores.reservations import Admission, Held, ReservationRequest, Reservations
from storage.stores.budgets import BudgetStore

_TYPICAL_OUTPUT_TTL_S = 600.0
_NO_HISTORY_TTL_S = 60.0


@dataclass(frozen=True)
class ReserveAsk:
    """A gateway about to send a request: who (already attributed by the gateway's rules), what, how big."""
    event_id: str  # the id the request's usage event will carry (LiteLLM: "litellm:<call id>")
    user: str | None  # gateway user id, lower-cased; None: the request names nobody
    team: str | None  # team slug the gateway named
    model: str
    provider: str | None
    input_tokens: int
    max_tokens: int | None
    gateway_estimate_micros: int | None  # the gateway's own price for it, used when tokenbot has none


@dataclass(frozen=True)
class Line:
    budget_micros: int | None
    spent_micros: int

    @property
    def exhausted(self) -> bool:
        return self.budget_micros is not None and self.spent_micros >= self.budget_micros

    def as_json(self) -> dict[str, Any] | None:
        if self.budget_micros is None:
            return {"budget_usd": None, "spent_usd": self.spent_micros / MICROS_PER_USD, "remaining_usd": None}
        return {"budget_usd": self.budget_micros / MICROS_PER_USD, "spent_usd": self.spent_micros / MICROS_PER_USD,
                "remaining_usd": (self.budget_micros - self.spent_micros) / MICROS_PER_USD}


def decide(user: str, known: bool, person: Line | None, team: Line | None, team_slug: str | None,
           enforcement: str, allow_unknown: bool) -> dict[str, Any]:
    """The answer (pure): hard caps refuse once a budget is used up; soft caps allow and say so."""
    if not known:
        return {"allowed": allow_unknown, "user": user, "reason": "unknown user: not in the org file",
                "enforcement": None, "person": None, "team": None}
    used_up = [name for name, line in (("personal", person), ("team", team)) if line is not None and line.exhausted]
    if not used_up:
        allowed, reason = True, "within budget"
    elif enforcement == "hard":
        allowed, reason = False, f"{' and '.join(used_up)} budget used up; ask for more with /tokens request"
    else:
        allowed, reason = True, f"{' and '.join(used_up)} budget used up (soft cap: allowed, and reported)"
    team_json = team.as_json() if team is not None else None
    if team_json is not None:
        team_json["slug"] = team_slug
    return {"allowed": allowed, "user": user, "reason": reason, "enforcement": enforcement,
            "person": person.as_json() if person is not None else None, "team": team_json}


def parse_reserve(body: Any) -> ReserveAsk | str:
    """A reservation request as the LiteLLM plugin sends it (pure), or why it is not one.

    `call_id` is LiteLLM's call id (the usage event will be `litellm:<call id>`); another gateway sends `event_id`,
    the exact id its usage event will carry. Who is asking follows the LiteLLM attribution rules
    (`bot.domain.litellm.identity`: the key's user, the `end_user`, ...); a plain `user` and `team` work too."""
    from bot.domain.litellm import ID_PREFIX, identity, team_slug

    if not isinstance(body, dict):
        return "the body must be a JSON object"
    call_id, event_id = body.get("call_id"), body.get("event_id")
    if _text_ok(call_id):
        event_id = ID_PREFIX + call_id.strip()
    elif not _text_ok(event_id):
        return "call_id: required (LiteLLM's call id), or event_id (the id the usage event will carry)"
    model = body.get("model")
    if not _text_ok(model):
        return "model: required"
    provider = body.get("provider")
    if provider is not None and not _text_ok(provider):
        return "provider: text, if given"
    numbers: dict[str, int | None] = {}
    for name in ("input_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9):
            return f"{name}: a whole number from 0 to 1,000,000,000"
        numbers[name] = value
    estimate = body.get("estimate_usd")
    if estimate is not None and (isinstance(estimate, bool) or not isinstance(estimate, (int, float))
                                 or not 0 <= estimate <= 10_000):
        return "estimate_usd: a number from 0 to 10,000"
    meta = body.get("metadata")
    user, team = identity(body, meta if isinstance(meta, dict) else {})
    if team is None and _text_ok(body.get("team")):
        team = team_slug(body["team"])
    return ReserveAsk(event_id=event_id.strip(), user=user.lower() if user else None, team=team,
                      model=model.strip(), provider=provider.strip() if provider else None,
                      input_tokens=numbers["input_tokens"] or 0, max_tokens=numbers["max_tokens"],
                      gateway_estimate_micros=None if estimate is None else round(estimate * MICROS_PER_USD))


def _text_ok(value: Any, limit: int = 200) -> bool:
    return isinstance(value, str) and 0 < len(value.strip()) <= limit and "\x00" not in value


def reservation_answer(ask: ReserveAsk, admission: Admission, estimate_micros: int, person_budget: int | None,
                       team_budget: int | None, team_slug: str | None) -> dict[str, Any]:
    """The answer to a hard-cap reservation (pure): which line refused, with what was spent and held."""
    def line(budget: int | None, held: Held | None) -> dict[str, Any] | None:
        if held is None:
            return None
        used = held.spent_micros + held.reserved_micros
        return {"budget_usd": None if budget is None else budget / MICROS_PER_USD,
                "spent_usd": held.spent_micros / MICROS_PER_USD, "reserved_usd": held.reserved_micros / MICROS_PER_USD,
                "remaining_usd": None if budget is None else (budget - used) / MICROS_PER_USD}

    if admission.reused_id:
        reason = "this request id was already used by a finished request: send each request with its own id"
    elif admission.admitted:
        reason = "within budget"
    else:
        short = [name for name, budget, held in (("personal", person_budget, admission.person),
                                                 ("team", team_budget, admission.team))
                 if budget is not None and held is not None
                 and held.spent_micros + held.reserved_micros + estimate_micros > budget]
        reason = (f"{' and '.join(short) or 'the'} budget cannot cover this request (about "
                  f"${estimate_micros / MICROS_PER_USD:,.4f} with what is already spent and in flight); "
                  "ask for more with /tokens request")
    team_json = line(team_budget, admission.team)
    if team_json is not None:
        team_json["slug"] = team_slug
    return {"allowed": admission.admitted, "user": ask.user, "reason": reason, "enforcement": "hard",
            "reserved_usd": estimate_micros / MICROS_PER_USD if admission.admitted else 0.0,
            "person": line(person_budget, admission.person), "team": team_json}


class BudgetChecker:
    def __init__(self, deps: Deps, cache_seconds: float = 5.0) -> None:
        self.deps = deps
        self.cache_seconds = cache_seconds
        # PostgreSQL: the reservation has a pool of its own, without pre-ping (storage.db.make_engine says why) and
        # in autocommit: the reservation is one function call, committed on its own.
        self._gateway_engine = None if is_sqlite(deps.engine) else make_engine(
            deps.engine.url.render_as_string(hide_password=False), pre_ping=False, pool_size=5, autocommit=True)
        self.budgets = BudgetStore(deps.engine)
        self.reservations = Reservations(self._gateway_engine or deps.engine, deps.ledger.writer,
                                         deps.ledger.sqlite_writer)
        self._typical_output: dict[tuple[int, str], tuple[float, int | None]] = {}  # -> (valid until, tokens)
        self._directory: Directory | None = None
        self._directory_at = 0.0
        self._budgets: dict[str, dict[int, Any]] = {}
        self._spend: dict[tuple[str, int, int], tuple[float, int]] = {}  # (scope, id, month start hour) -> (at, spent)

    async def close(self) -> None:
        if self._gateway_engine is not None:
            await self._gateway_engine.dispose()

    async def check(self, user: str) -> dict[str, Any]:
        directory = await self._fresh_directory()
        hit = directory.person_by_alias.get(user.strip().lower())
        allow_unknown = self.deps.settings.check_allow_unknown
        if hit is None:
            return decide(user, False, None, None, None, "soft", allow_unknown)
        person_id, team_id = hit
        team_info = self._budgets["teams"].get(team_id)
        start, person_budget, team_budget = self._month_budgets(person_id, team_id, team_info)
        start_hour = int(start.timestamp()) // 3600
        person_line = None
        if person_budget is not None:
            person_line = Line(person_budget, await self._spent("person", person_id, start_hour))
        team_line = None
        if team_info is not None:
            team_line = Line(team_budget, await self._spent("team", team_id, start_hour))
        return decide(user, True, person_line, team_line, team_info["slug"] if team_info else None,
                      team_info["enforcement"] if team_info else "soft", allow_unknown)

    async def reserve(self, ask: ReserveAsk) -> dict[str, Any]:
        """Admit a request or not; for a hard cap, hold its estimated cost until its usage event settles it."""
        directory = await self._fresh_directory()
        person_id, team_id = directory.attribute(ask.user, ask.team) if ask.user else (None, 0)
        team_info = self._budgets["teams"].get(team_id)
        if person_id is None or team_info is None or team_info["enforcement"] != "hard":
            answer = await self.check(ask.user) if ask.user else decide(
                "", False, None, None, None, "soft", self.deps.settings.check_allow_unknown)
            return answer | {"reserved_usd": 0.0}
        start, person_budget, team_budget = self._month_budgets(person_id, team_id, team_info)
        estimate = await self.estimate_micros(person_id, ask)
        admission = await self.reservations.reserve(ReservationRequest(
            event_id=ask.event_id, person_id=person_id, team_id=team_id, amount_micros=estimate,
            person_budget_micros=person_budget, team_budget_micros=team_budget,
            month_start_hour=int(start.timestamp()) // 3600, now_ts=int(self.deps.clock.now().timestamp()),
            ttl_s=self.deps.settings.reservation_ttl_s))
        return reservation_answer(ask, admission, estimate, person_budget, team_budget, team_info["slug"])

    async def estimate_micros(self, person_id: int, ask: ReserveAsk) -> int:
        """The request's price at its input tokens and its `max_tokens`, or the person's typical output for that
        model (7 days), or a default; tokenbot's prices (with the org's overrides), else the gateway's estimate."""
        output = ask.max_tokens
        if output is None:
            output = await self._typical_output_tokens(person_id, ask.model)
        if output is None:
            output = self.deps.settings.reserve_default_output_tokens
        cost = self.deps.ledger.pricer.cost_micros(ask.model, ask.provider, ask.input_tokens, output, 0,
                                                   int(self.deps.clock.now().timestamp()))
        if cost is None:
            cost = ask.gateway_estimate_micros or 0
        return max(0, cost)

    async def _typical_output_tokens(self, person_id: int, model: str) -> int | None:
        """Output tokens per request of this person and model over 7 days (rounded up: an estimate errs high), or
        None without history. Both answers are kept a while (by the injected clock): the reservation is on every
        gateway request's path and this read would be most of its time."""
        key = (person_id, model)
        now = self.deps.clock.now().timestamp()
        cached = self._typical_output.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        from_hour = int(now) // 3600 - 7 * 24
        requests, output = await self.budgets.output_per_request(person_id, model, from_hour)
        typical = -(-int(output) // int(requests)) if requests else None
        # Without history the default is assumed, briefly: the person's first requests with a model soon give one.
        self._typical_output[key] = (now + (_TYPICAL_OUTPUT_TTL_S if requests else _NO_HISTORY_TTL_S), typical)
        return typical

    def _month_budgets(self, person_id: int, team_id: int, team_info: dict[str, Any] | None
                       ) -> tuple[datetime, int | None, int | None]:
        """The start of the team's month (in its timezone), and the person's and the team's budgets with the raises
        approved for that month: what `check` reports against and `reserve` admits against."""
        start = month_start(self.deps.clock.now().astimezone(ZoneInfo(team_info["timezone"] if team_info else "UTC")))
        month = f"{start:%Y-%m}"
        person = self._budgets["people"].get(person_id)
        team = team_info["budget"] if team_info is not None else None
        raises = self._budgets.get("raises", {})
        return (start, effective_budget(person, raised_in(raises, "person", person_id, month)),
                effective_budget(team, raised_in(raises, "team", team_id, month)))

    async def _fresh_directory(self) -> Directory:
        now = time.monotonic()
        if self._directory is None or now - self._directory_at > self.cache_seconds:
            directory = await self.deps.ingestion.directory()
            if self._directory is None or directory.revision != self._directory.revision or not self._budgets:
                await self._load_budgets()
            elif now - self._directory_at > self.cache_seconds:
                await self._load_adjustments()  # approvals happen in any process
            self._directory, self._directory_at = directory, now
        return self._directory

    async def _load_budgets(self) -> None:
        self._budgets["people"], self._budgets["teams"] = await self.budgets.org_budgets()
        await self._load_adjustments()

    async def _load_adjustments(self) -> None:
        self._budgets["raises"] = await self.budgets.all_raises()


    async def _spent(self, scope: str, subject: int, start_hour: int) -> int:
        key = (scope, subject, start_hour)
        cached = self._spend.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] <= self.cache_seconds:
            return cached[1]
        spent = await self.budgets.spent_since(scope, subject, start_hour)
        self._spend[key] = (now, spent)
        return spent
