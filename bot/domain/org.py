"""The org file: YAML kept in git by FinOps. Parsing and validation are pure; every error names its line."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml

from bot.domain.pricing import PriceOverride

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SLACK_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_CHANNEL_RE = re.compile(r"^[CGD][A-Z0-9]{2,}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
GITHUB_LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


@dataclass(frozen=True)
class ApprovalPolicy:
    """How a team's budget requests are decided (org file: `approvals:` under the team)."""

    channel: str | None = None  # approval cards go here; otherwise a DM to each approver
    auto_approve_usd: float = 0.0  # requests up to this are approved at once (still announced)
    auto_approve_per_month: int = 0  # at most this many auto-approvals per person per month
    escalate_above_usd: float | None = None  # above this, a finance approver must approve after the team approver
    expires_hours: float = 72.0


@dataclass(frozen=True)
class PreferredModel:
    """Org file `preferred_models:`: a model the organisation wants its people on (in-house, or negotiated), what it
    is preferred for, and which models it replaces (their spend is priced on it in `/tokens me`, `/tokens team`)."""

    model: str  # lower-cased, as usage events name it
    purpose: str = ""  # `for:` in the file: "coding", "chat and summaries"
    replaces: tuple[str, ...] = ()  # lower-cased model names; empty: the replacement for anything not named elsewhere
    line: int = 0


@dataclass(frozen=True)
class TeamSteering:
    """A team's `steering:`: when a person's share of spend on other models earns a friendly monthly DM, and the
    models the LiteLLM plugin may route to their preferred replacement (opt-in, off unless listed)."""

    other_share_pct: int = 50  # a person with more than this % of the month's spend on other models is told once
    route: tuple[tuple[str, str], ...] = ()  # (requested model, preferred model it is routed to)


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    channel: str | None
    timezone: str
    digest_time: str  # "HH:MM", local to `timezone`
    monthly_budget_usd: float | None
    approvers: tuple[str, ...]
    digest_names_top_spenders: bool
    line: int = 0
    approvals: ApprovalPolicy = ApprovalPolicy()
    enforcement: str = "soft"  # "hard": the budget check refuses requests once a budget is used up
    alert_thresholds: tuple[int, ...] = (50, 80, 100)  # % of the month's budget that warn once each
    steering: TeamSteering | None = None  # None: no steering DMs, no routing for this team


@dataclass(frozen=True)
class PersonSpec:
    email: str
    team: str | None
    slack_id: str | None
    name: str | None
    gateway_ids: tuple[str, ...]
    monthly_budget_usd: float | None
    line: int = 0
    github_logins: tuple[str, ...] = ()  # `github:` (lower-cased): GitHub outcomes (merged PRs, deploys) are theirs

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every id ingestion knows them by: email, gateway and account ids, `github:<login>`."""
        return (self.email, *self.gateway_ids, *(f"github:{login}" for login in self.github_logins))


@dataclass(frozen=True)
class SourceRule:
    """Org file `sources:`: which source counts the requests of some people, teams or providers when two sources
    see the same requests (Claude Code going through the company's LiteLLM and exporting its own telemetry). The
    other sources' copies are kept as overlap, never as spend. A rule with no selector covers everyone."""

    authoritative: str  # litellm | otlp | api | ...
    people: tuple[str, ...] = ()  # emails
    teams: tuple[str, ...] = ()  # slugs
    providers: tuple[str, ...] = ()  # anthropic, openai, ...
    line: int = 0

    def covers(self, email: str | None, team: str | None, provider: str | None) -> bool:
        return ((not self.people or email in self.people) and (not self.teams or team in self.teams)
                and (not self.providers or provider in self.providers))


def authoritative_source(rules: tuple[SourceRule, ...], email: str | None, team: str | None,
                         provider: str | None) -> str | None:
    """The source that counts a request of this person, team and provider: the first rule that covers it; None when
    no rule does (every source counts what it sees)."""
    for rule in rules:
        if rule.covers(email, team, provider):
            return rule.authoritative
    return None


@dataclass(frozen=True)
class OrgFile:
    name: str
    admins: tuple[str, ...]
    help_contact: str | None
    teams: tuple[TeamSpec, ...]
    people: tuple[PersonSpec, ...]
    finance_approvers: tuple[str, ...] = ()  # second approval above a team's escalation limit; fallback group
    max_request_usd: float = 10_000.0  # ceiling of one budget request
    max_pending_requests: int = 3  # per person
    prices: tuple[tuple[str, PriceOverride], ...] = ()  # per-model price overrides (model lower-cased)
    sources: tuple[SourceRule, ...] = ()  # per-source precedence (first matching rule wins)
    preferred_models: tuple[PreferredModel, ...] = ()


@dataclass
class OrgFileError(Exception):
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class _LineLoader(yaml.SafeLoader):
    """Records the line (1-based) of every mapping, so validation errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__keys__"] = {k.value: k.start_mark.line + 1 for k, _v in node.value if isinstance(k, yaml.ScalarNode)}
    return mapping


def _at(raw: dict[str, Any], key: str) -> int:
    """The line of `key` in a mapping, or of the mapping itself when the key is absent."""
    return raw.get("__keys__", {}).get(key, raw["__line__"])


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_org_file(path: Path) -> OrgFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrgFileError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_org(text, str(path))


def parse_org(text: str, source: str = "org file") -> OrgFile:
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise OrgFileError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(doc, dict):
        raise OrgFileError([f"{source}:1: the org file must be a mapping with `teams:` and `people:`"])
    problems = _Problems(source)
    problem = problems.add

    org = doc.get("org") or {}
    if not isinstance(org, dict):
        problem(doc["__line__"], "`org:` must be a mapping")
        org = {}
    admins = _str_list(org.get("admins"), "org.admins", org.get("__line__", 1), problem, SLACK_USER_RE,
                       "a Slack user id like U0123ABCD")

    teams: list[TeamSpec] = []
    seen_slugs: dict[str, int] = {}
    broken_slugs: set[str] = set()  # teams already reported; their people are not reported again
    for raw in _list(doc.get("teams"), "teams", doc["__line__"], problem):
        team = _parse_team(raw, problem)
        if team is None:
            if isinstance(raw, dict) and isinstance(raw.get("slug"), str):
                broken_slugs.add(raw["slug"])
            continue
        if team.slug in seen_slugs:
            problem(team.line, f"team `{team.slug}` is defined twice (first at line {seen_slugs[team.slug]})")
            continue
        seen_slugs[team.slug] = team.line
        teams.append(team)

    people: list[PersonSpec] = []
    seen_emails: dict[str, int] = {}
    seen_slack: dict[str, int] = {}
    seen_aliases: dict[str, int] = {}
    for raw in _list(doc.get("people"), "people", doc["__line__"], problem):
        person = _parse_person(raw, problem)
        if person is None:
            continue
        if person.team is not None and person.team not in seen_slugs:
            if person.team not in broken_slugs:
                problem(person.line, f"person {person.email}: unknown team `{person.team}`")
            continue
        if person.email in seen_emails:
            problem(person.line, f"duplicate person {person.email} (first at line {seen_emails[person.email]})")
            continue
        if person.slack_id and person.slack_id in seen_slack:
            problem(person.line, f"Slack id {person.slack_id} is used twice (first at line {seen_slack[person.slack_id]})")
            continue
        clash = next((a for a in person.gateway_ids if a in seen_aliases), None)
        if clash:
            problem(person.line, f"gateway id `{clash}` belongs to two people (first at line {seen_aliases[clash]})")
            continue
        seen_emails[person.email] = person.line
        if person.slack_id:
            seen_slack[person.slack_id] = person.line
        github_clash = next((g for g in person.github_logins if f"github:{g}" in seen_aliases), None)
        if github_clash:
            problem(person.line, f"GitHub login `{github_clash}` belongs to two people (first at line "
                                 f"{seen_aliases[f'github:{github_clash}']})")
            continue
        for alias in person.aliases:
            seen_aliases[alias] = person.line
        people.append(person)

    finance = _str_list(org.get("finance_approvers"), "org.finance_approvers", _at(org, "finance_approvers") if org else 1,
                        problem, SLACK_USER_RE, "a Slack user id like U0123ABCD")
    max_request = _money(org.get("max_request_usd"), "org.max_request_usd", _at(org, "max_request_usd") if org else 1,
                         problem)
    max_pending = _count_value(org.get("max_pending_requests", 3), "org.max_pending_requests",
                               _at(org, "max_pending_requests") if org else 1, problem)
    prices = _parse_prices(doc.get("prices"), doc, problem)
    sources = _parse_sources(doc.get("sources"), doc, set(seen_emails), set(seen_slugs), problem)
    preferred = _parse_preferred(doc.get("preferred_models"), doc, problem)
    names = {p.model for p in preferred}
    for team in teams:
        for asked, target in team.steering.route if team.steering else ():
            if target not in names:
                problem(team.line, f"team `{team.slug}`: steering.route sends {asked} to {target}, which is not one of "
                                   "the preferred_models")
    if problems.lines:
        raise OrgFileError(problems.lines)
    return OrgFile(preferred_models=preferred, prices=prices, sources=sources, name=str(org.get("name") or "your organisation"), admins=tuple(admins),
                   help_contact=_opt_str(org.get("help_contact")), teams=tuple(teams), people=tuple(people),
                   finance_approvers=tuple(finance), max_request_usd=10_000.0 if max_request is None else max_request,
                   max_pending_requests=max_pending or 3)


def _parse_team(raw: Any, problem) -> TeamSpec | None:  # noqa: ANN001
    if not isinstance(raw, dict):
        problem(1, "each team must be a mapping")
        return None
    line = raw["__line__"]
    before = _count(problem)
    slug = raw.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        problem(_at(raw, "slug"), f"team slug {slug!r} must be lower-case letters, digits, - or _ (at most 64)")
        slug = "?"
    tz = raw.get("timezone", "UTC")
    if not _valid_timezone(tz):
        problem(_at(raw, "timezone"), f"team `{slug}`: unknown timezone {tz!r} (use an IANA name like Europe/Berlin)")
    digest_time = str(raw.get("digest_time", "09:00"))
    if isinstance(raw.get("digest_time"), int):  # YAML 1.1 reads 09:00 as sexagesimal 540
        minutes = raw["digest_time"]
        digest_time = f"{minutes // 60:02d}:{minutes % 60:02d}"
    try:
        time.fromisoformat(digest_time)
        if len(digest_time) != 5:
            raise ValueError
    except ValueError:
        problem(_at(raw, "digest_time"), f"team `{slug}`: digest_time {digest_time!r} must be HH:MM")
    channel = _opt_str(raw.get("channel"))
    if channel is not None and not SLACK_CHANNEL_RE.match(channel):
        problem(_at(raw, "channel"), f"team `{slug}`: channel {channel!r} must be a Slack channel id like C0123ABCD")
    budget = _money(raw.get("monthly_budget_usd"), f"team `{slug}`: monthly_budget_usd", _at(raw, "monthly_budget_usd"),
                    problem)
    approvers = _str_list(raw.get("approvers"), f"team `{slug}`: approvers", _at(raw, "approvers"), problem, SLACK_USER_RE,
                          "a Slack user id like U0123ABCD")
    approvals = _parse_approvals(raw.get("approvals"), slug, raw, problem)
    thresholds = _parse_thresholds(raw.get("alert_thresholds"), slug, raw, problem)
    steering = _parse_steering(raw.get("steering"), slug, raw, problem)
    enforcement = raw.get("enforcement", "soft")
    if enforcement not in ("soft", "hard"):
        problem(_at(raw, "enforcement"), f"team `{slug}`: enforcement must be soft or hard, got {enforcement!r}")
    if _count(problem) > before:
        return None
    return TeamSpec(steering=steering, alert_thresholds=thresholds, approvals=approvals or ApprovalPolicy(), enforcement=enforcement,
                    slug=slug, name=str(raw.get("name") or slug), channel=channel, timezone=tz,
                    digest_time=digest_time, monthly_budget_usd=budget, approvers=tuple(approvers),
                    digest_names_top_spenders=bool(raw.get("digest_names_top_spenders", False)), line=line)


def _parse_approvals(raw: Any, slug: str, team: dict[str, Any], problem) -> ApprovalPolicy | None:  # noqa: ANN001
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problem(_at(team, "approvals"), f"team `{slug}`: approvals must be a mapping")
        return None
    what = f"team `{slug}`: approvals"
    channel = _opt_str(raw.get("channel"))
    if channel is not None and not SLACK_CHANNEL_RE.match(channel):
        problem(_at(raw, "channel"), f"{what}.channel {channel!r} must be a Slack channel id like C0123ABCD")
    auto = _money(raw.get("auto_approve_usd"), f"{what}.auto_approve_usd", _at(raw, "auto_approve_usd"), problem)
    per_month = _count_value(raw.get("auto_approve_per_month", 0), f"{what}.auto_approve_per_month",
                             _at(raw, "auto_approve_per_month"), problem)
    escalate = _money(raw.get("escalate_above_usd"), f"{what}.escalate_above_usd", _at(raw, "escalate_above_usd"), problem)
    hours = _money(raw.get("expires_hours", 72), f"{what}.expires_hours", _at(raw, "expires_hours"), problem)
    if hours is not None and not 1 <= hours <= 24 * 31:
        problem(_at(raw, "expires_hours"), f"{what}.expires_hours must be between 1 and 744")
    return ApprovalPolicy(channel=channel, auto_approve_usd=auto or 0.0, auto_approve_per_month=per_month or 0,
                          escalate_above_usd=escalate, expires_hours=hours or 72.0)


def _parse_thresholds(raw: Any, slug: str, team: dict[str, Any], problem) -> tuple[int, ...]:  # noqa: ANN001
    """`alert_thresholds: [50, 80, 100]`: whole percentages of the month's budget, each warned about once."""
    if raw is None:
        return (50, 80, 100)
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000 for v in raw)):
        problem(_at(team, "alert_thresholds"),
                f"team `{slug}`: alert_thresholds must be a list of whole percentages between 1 and 1000, got {raw!r}")
        return (50, 80, 100)
    return tuple(sorted(set(raw)))


def _parse_preferred(raw: Any, doc: dict[str, Any], problem) -> tuple[PreferredModel, ...]:  # noqa: ANN001
    """`preferred_models: [{model: acme-coder, for: coding, replaces: [claude-sonnet-4-5, gpt-4o]}]`."""
    out: dict[str, PreferredModel] = {}
    claimed: dict[str, int] = {}
    for item in _list(raw, "preferred_models", _at(doc, "preferred_models"), problem):
        if not isinstance(item, dict) or not isinstance(item.get("model"), str) or not item["model"].strip():
            problem(item["__line__"] if isinstance(item, dict) else _at(doc, "preferred_models"),
                    "each preferred model needs `model:` (the name usage events carry)")
            continue
        model, line = item["model"].strip().lower(), item["__line__"]
        purpose = item.get("for", "")
        if not isinstance(purpose, str) or len(purpose) > 100:
            problem(_at(item, "for"), f"preferred model {model}: `for:` must be a short text (at most 100 characters)")
            continue
        replaces = [m.strip().lower() for m in _str_list(item.get("replaces"), f"preferred model {model}: replaces",
                                                         _at(item, "replaces"), problem)]
        if model in out:
            problem(line, f"preferred model {model} is listed twice (first at line {out[model].line})")
            continue
        for m in replaces:
            if m in claimed:
                problem(_at(item, "replaces"), f"preferred model {model}: {m} is already replaced by the preferred "
                                               f"model at line {claimed[m]}")
            claimed[m] = line
        out[model] = PreferredModel(model, purpose.strip(), tuple(replaces), line)
    return tuple(out.values())


def _parse_steering(raw: Any, slug: str, team: dict[str, Any], problem) -> TeamSteering | None:  # noqa: ANN001
    """`steering: {other_share_pct: 40, route: {claude-sonnet-4-5: acme-coder}}`."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problem(_at(team, "steering"), f"team `{slug}`: steering must be a mapping (other_share_pct, route)")
        return None
    pct = raw.get("other_share_pct", 50)
    if isinstance(pct, bool) or not isinstance(pct, int) or not 1 <= pct <= 100:
        problem(_at(raw, "other_share_pct"), f"team `{slug}`: steering.other_share_pct must be a whole percentage "
                                             f"between 1 and 100, got {pct!r}")
        pct = 50
    route_raw = raw.get("route") or {}
    route: list[tuple[str, str]] = []
    if not isinstance(route_raw, dict):
        problem(_at(raw, "route"), f"team `{slug}`: steering.route must map a model to its preferred replacement")
    else:
        for asked, target in route_raw.items():
            if asked in ("__line__", "__keys__"):
                continue
            if not isinstance(asked, str) or not isinstance(target, str) or not asked.strip() or not target.strip():
                problem(route_raw.get("__keys__", {}).get(asked, _at(raw, "route")),
                        f"team `{slug}`: steering.route entries must be `model: preferred model`")
                continue
            route.append((asked.strip().lower(), target.strip().lower()))
    return TeamSteering(pct, tuple(sorted(route)))


def _parse_prices(raw: Any, doc: dict[str, Any], problem) -> tuple[tuple[str, PriceOverride], ...]:  # noqa: ANN001
    out: dict[str, PriceOverride] = {}
    for item in _list(raw, "prices", _at(doc, "prices"), problem):
        if not isinstance(item, dict) or not isinstance(item.get("model"), str) or not item["model"].strip():
            problem(item["__line__"] if isinstance(item, dict) else 1, "each price needs `model:`")
            continue
        model = item["model"].strip().lower()
        line = item["__line__"]
        rates = {k: _money(item.get(k), f"price of {model}: {k}", _at(item, k), problem)
                 for k in ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")}
        discount = _money(item.get("discount_pct"), f"price of {model}: discount_pct", _at(item, "discount_pct"), problem)
        if discount is not None and discount > 100:
            problem(_at(item, "discount_pct"), f"price of {model}: discount_pct must be at most 100")
        dims = {k: _money(item.get(k), f"price of {model}: {k}", _at(item, k), problem) for k in _DIMENSION_PRICES}
        if dims["batch_discount_pct"] is not None and dims["batch_discount_pct"] > 100:
            problem(_at(item, "batch_discount_pct"), f"price of {model}: batch_discount_pct must be at most 100")
        both = rates["input_per_mtok"] is not None and discount is not None
        if both or (rates["input_per_mtok"] is None and discount is None and all(v is None for v in dims.values())):
            problem(line, f"price of {model}: give either input_per_mtok (and output_per_mtok) or discount_pct")
            continue
        if model in out:
            problem(line, f"price of {model} is given twice")
            continue
        out[model] = PriceOverride(input_per_mtok=rates["input_per_mtok"], output_per_mtok=rates["output_per_mtok"],
                                   cached_input_per_mtok=rates["cached_input_per_mtok"], discount_pct=discount or 0.0,
                                   priced_as=_opt_str(item.get("priced_as")), **dims)
    return tuple(out.items())


def _parse_sources(raw: Any, doc: dict[str, Any], emails: set[str], slugs: set[str],  # noqa: ANN001
                   problem) -> tuple[SourceRule, ...]:
    rules: list[SourceRule] = []
    for item in _list(raw, "sources", _at(doc, "sources"), problem):
        if not isinstance(item, dict):
            problem(_at(doc, "sources"), "each entry of `sources:` must be a mapping with `authoritative:`")
            continue
        line = item["__line__"]
        source = item.get("authoritative")
        if not isinstance(source, str) or not SLUG_RE.match(source.strip().lower()):
            problem(_at(item, "authoritative"), f"sources: authoritative must name a source (litellm, otlp, api), "
                                                f"got {source!r}")
            continue
        people = [p.lower() for p in _str_list(item.get("people"), "sources: people", _at(item, "people"), problem)]
        for email in people:
            if email not in emails:
                problem(_at(item, "people"), f"sources: {email} is not a person of this org file")
        teams = [t.lower() for t in _str_list(item.get("teams"), "sources: teams", _at(item, "teams"), problem)]
        for slug in teams:
            if slug not in slugs:
                problem(_at(item, "teams"), f"sources: unknown team `{slug}`")
        providers = [p.lower() for p in _str_list(item.get("providers"), "sources: providers", _at(item, "providers"),
                                                   problem)]
        rules.append(SourceRule(source.strip().lower(), tuple(people), tuple(teams), tuple(providers), line))
    return tuple(rules)


# Per-model prices of provider billing dimensions the org file may set (bot/domain/price_rules.py uses them first).
_DIMENSION_PRICES = ("cache_write_per_mtok", "cache_write_1h_per_mtok", "audio_input_per_mtok", "audio_output_per_mtok",
                     "web_search_per_1k", "batch_discount_pct")


def _count_value(value: Any, what: str, line: int, problem) -> int | None:  # noqa: ANN001
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problem(line, f"{what} must be a whole number >= 0, got {value!r}")
        return None
    return value


def _parse_person(raw: Any, problem) -> PersonSpec | None:  # noqa: ANN001
    if not isinstance(raw, dict):
        problem(1, "each person must be a mapping")
        return None
    line = raw["__line__"]
    before = _count(problem)
    email = raw.get("email")
    if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
        problem(_at(raw, "email"), f"person: email {email!r} is missing or not an email address")
        email = "?"
    email = email.strip().lower()
    slack_id = _opt_str(raw.get("slack_id"))
    if slack_id is not None and not SLACK_USER_RE.match(slack_id):
        problem(_at(raw, "slack_id"), f"person {email}: slack_id {slack_id!r} must be a Slack user id like U0123ABCD")
    gateway_ids = _str_list(raw.get("gateway_ids"), f"person {email}: gateway_ids", _at(raw, "gateway_ids"), problem)
    # Telemetry's account ids (Claude Code's user.account_uuid): aliases like gateway ids, listed apart for clarity.
    gateway_ids += _str_list(raw.get("account_ids"), f"person {email}: account_ids", _at(raw, "account_ids"), problem)
    budget = _money(raw.get("monthly_budget_usd"), f"person {email}: monthly_budget_usd", _at(raw, "monthly_budget_usd"),
                    problem)
    # `github: octocat` (or a list, for a second account): merged PRs, pushes and deploys by that login are theirs.
    github = _str_list(raw.get("github"), f"person {email}: github", _at(raw, "github"), problem, GITHUB_LOGIN_RE,
                       "a GitHub login (letters, digits and -)")
    team = _opt_str(raw.get("team"))
    if _count(problem) > before:
        return None
    aliases = tuple(dict.fromkeys(g.strip().lower() for g in gateway_ids if g.strip() and g.strip().lower() != email))
    return PersonSpec(email=email, team=team.lower() if team else None, slack_id=slack_id,
                      name=_opt_str(raw.get("name")), gateway_ids=aliases, monthly_budget_usd=budget, line=line,
                      github_logins=tuple(dict.fromkeys(g.lower() for g in github)))


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, line: int, message: str) -> None:
        self.lines.append(f"{self.source}:{line}: {message}")


def _count(problem) -> int:  # noqa: ANN001
    return len(problem.__self__.lines)


def _valid_timezone(name: Any) -> bool:
    if not isinstance(name, str) or name not in _timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_TZ_CACHE: set[str] = set()


def _timezones() -> set[str]:
    if not _TZ_CACHE:
        _TZ_CACHE.update(available_timezones())
        _TZ_CACHE.add("UTC")
    return _TZ_CACHE


def _list(value: Any, what: str, line: int, problem) -> list[Any]:  # noqa: ANN001
    if value is None:
        return []
    if not isinstance(value, list):
        problem(line, f"`{what}:` must be a list")
        return []
    return value


def _str_list(value: Any, what: str, line: int, problem, pattern: re.Pattern[str] | None = None,  # noqa: ANN001
              expected: str = "") -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(line, f"{what} must be a list of strings")
        return []
    out = [v.strip() for v in value]
    for v in out:
        if pattern is not None and not pattern.match(v):
            problem(line, f"{what}: {v!r} is not {expected}")
    return out


def _money(value: Any, what: str, line: int, problem) -> float | None:  # noqa: ANN001
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        problem(line, f"{what} must be a number of US dollars >= 0, got {value!r}")
        return None
    return float(value)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Team:
    id: int
    slug: str
    name: str
    channel: str | None
    timezone: str
    digest_time: str
    monthly_budget_micros: int | None
    digest_names_top_spenders: bool
    approvers: tuple[str, ...]
    approval_channel: str | None = None
    auto_approve_micros: int = 0
    auto_approve_per_month: int = 0
    escalate_above_micros: int | None = None
    request_ttl_hours: float = 72.0
    enforcement: str = "soft"


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    slack_user_id: str | None
    name: str | None
    team_id: int | None
    monthly_budget_micros: int | None


@dataclass(frozen=True)
class OrgInfo:
    name: str
    admins: tuple[str, ...]
    help_contact: str | None
    revision: int
    finance_approvers: tuple[str, ...] = ()
    max_request_micros: int = 10_000_000_000
    max_pending_requests: int = 3
    price_overrides: dict = dataclasses.field(default_factory=dict)
    source_precedence: tuple[SourceRule, ...] = ()
    preferred_models: tuple[PreferredModel, ...] = ()
    steering: dict[str, TeamSteering] = dataclasses.field(default_factory=dict)  # team slug -> its steering


def steering_json(org: OrgFile) -> dict[str, Any]:
    """What the database keeps of the org file's preferred models and the teams' steering."""
    return {"preferred": [{"model": p.model, "for": p.purpose, "replaces": list(p.replaces)} for p in org.preferred_models],
            "teams": {t.slug: {"other_share_pct": t.steering.other_share_pct, "route": [list(r) for r in t.steering.route]}
                      for t in org.teams if t.steering is not None}}


def steering_from_json(data: Any) -> tuple[tuple[PreferredModel, ...], dict[str, TeamSteering]]:
    data = data if isinstance(data, dict) else {}
    preferred = tuple(PreferredModel(p["model"], p.get("for", ""), tuple(p.get("replaces", ())))
                      for p in data.get("preferred", ()))
    teams = {slug: TeamSteering(int(t.get("other_share_pct", 50)), tuple(tuple(r) for r in t.get("route", ())))
             for slug, t in (data.get("teams") or {}).items()}
    return preferred, teams
