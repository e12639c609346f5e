"""Outcome events (what the spend bought) from GitHub webhooks and from other systems: pure parsing and validation.

GitHub (https://docs.github.com/en/webhooks/webhook-events-and-payloads):
- `pull_request` with action `closed` and `pull_request.merged: true` -> a merged PR of its author
  (`pull_request.user.login`), at `merged_at`; a merged PR that says it reverts another is a `revert` instead, and
  marks the one it names reverted;
- `push` to the repository's default branch (`ref == "refs/heads/" + repository.default_branch`) -> a push of
  `sender.login`, counting its distinct commits (a commit saying "This reverts commit <sha>" marks that one reverted);
- `deployment_status` with `deployment_status.state: "success"` -> a deploy of the deployment's creator.
The signature is X-Hub-Signature-256: `sha256=` + HMAC-SHA256 of the raw body keyed with the webhook secret
(https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries)."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.usage_events import FUTURE_SLACK_S, MIN_TS, Rejection, parse_timestamp

PR_MERGED = "pr_merged"
REVERT = "revert"
PUSH = "push"
DEPLOY = "deploy"
GITHUB_ALIAS_PREFIX = "github:"  # a GitHub login as a person's alias: `github:octocat` (logins are case-insensitive)
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SHA_RE = re.compile(r"\bThis reverts commit ([0-9a-f]{7,40})\b", re.IGNORECASE)
_REVERTS_PR_RE = re.compile(r"\bReverts\s+(?:([\w.-]+/[\w.-]+))?#(\d+)\b", re.IGNORECASE)
_REVERT_TITLE_RE = re.compile(r'^Revert\s+"(.+)"\s*$', re.DOTALL)
MAX_REFS = 50


@dataclass(frozen=True)
class Outcome:
    """One outcome, ready to store. `refs` are keys a later revert may name it by; `reverts` the keys it undoes."""

    id: str
    kind: str
    user_ref: str | None
    occurred_at: int
    source: str
    link: str | None
    count: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    refs: tuple[str, ...] = ()
    reverts: tuple[str, ...] = ()


@dataclass(frozen=True)
class GithubDelivery:
    """What one webhook delivery means: outcomes to store, or why it is ignored (answered 202)."""

    outcomes: tuple[Outcome, ...] = ()
    ignored: str | None = None


class GithubPayloadError(ValueError):
    """A signed delivery whose payload is not what GitHub documents for its event (a 400)."""


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 checked in constant time; a missing or malformed header is simply wrong."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def github_alias(login: str) -> str:
    return GITHUB_ALIAS_PREFIX + login.strip().lower()


def pr_ref(repo: str, number: int) -> str:
    return f"pr:{repo.lower()}#{number}"


def sha_ref(sha: str) -> str:
    return f"sha:{sha.lower()}"


def title_ref(repo: str, title: str) -> str:
    digest = hashlib.sha256(f"{repo.lower()}\n{' '.join(title.split()).lower()}".encode()).hexdigest()[:40]
    return f"title:{digest}"


def revert_targets(repo: str, title: str, body: str) -> tuple[str, ...]:
    """The keys a revert names, from GitHub's own wording: the revert button's body "Reverts owner/repo#123", git
    revert's "This reverts commit <sha>.", and as a last resort the title `Revert "<original title>"`."""
    text = f"{title}\n{body}"
    targets = [pr_ref(m.group(1) or repo, int(m.group(2))) for m in _REVERTS_PR_RE.finditer(text)]
    targets += [sha_ref(m.group(1)) for m in _SHA_RE.finditer(text)]
    if not targets and (m := _REVERT_TITLE_RE.match(title.strip())):
        targets.append(title_ref(repo, m.group(1)))
    return tuple(dict.fromkeys(targets))[:MAX_REFS]


def parse_github(event: str, payload: Any, received_ts: int) -> GithubDelivery:
    """A delivery's X-GitHub-Event and parsed JSON payload -> outcomes (GithubPayloadError: not GitHub's shape)."""
    if not isinstance(payload, dict):
        raise GithubPayloadError("the payload must be a JSON object")
    if event == "pull_request":
        return _pull_request(payload, received_ts)
    if event == "push":
        return _push(payload, received_ts)
    if event == "deployment_status":
        return _deployment_status(payload, received_ts)
    return GithubDelivery(ignored=f"event `{event}` is not an outcome")


def _pull_request(p: dict[str, Any], received_ts: int) -> GithubDelivery:
    pr = _obj(p, "pull_request")
    if p.get("action") != "closed" or pr.get("merged") is not True:
        return GithubDelivery(ignored=f"pull_request {p.get('action')!s:.40}: not a merge")
    repo = _repo(p)
    number = pr.get("number", p.get("number"))
    if not isinstance(number, int) or isinstance(number, bool):
        raise GithubPayloadError("pull_request.number must be a number")
    login = _login(_obj(pr, "user"), "pull_request.user")
    title = pr.get("title") if isinstance(pr.get("title"), str) else ""
    body = pr.get("body") if isinstance(pr.get("body"), str) else ""
    reverts = tuple(t for t in revert_targets(repo, title, body) if t != pr_ref(repo, number))
    refs = [pr_ref(repo, number), title_ref(repo, title)]
    if isinstance(pr.get("merge_commit_sha"), str) and pr["merge_commit_sha"]:
        refs.append(sha_ref(pr["merge_commit_sha"]))
    outcome = Outcome(id=f"github:pr:{repo.lower()}#{number}", kind=REVERT if reverts else PR_MERGED,
                      user_ref=github_alias(login),
                      occurred_at=_time(pr.get("merged_at"), "pull_request.merged_at", received_ts),
                      source="github", link=_url(pr.get("html_url")), count=1,
                      metadata={"repo": repo, "number": number, "title": title[:200],
                                "merged_by": (pr.get("merged_by") or {}).get("login")
                                if isinstance(pr.get("merged_by"), dict) else None},
                      refs=tuple(refs), reverts=reverts)
    return GithubDelivery(outcomes=(outcome,))


def _push(p: dict[str, Any], received_ts: int) -> GithubDelivery:
    repository = _obj(p, "repository")
    repo = _repo(p)
    branch = repository.get("default_branch")
    ref = p.get("ref")
    if not isinstance(ref, str):
        raise GithubPayloadError("push.ref must be a string")
    if not isinstance(branch, str) or ref != f"refs/heads/{branch}":
        return GithubDelivery(ignored=f"push to {ref[:100]}: not the default branch")
    if p.get("deleted") is True:
        return GithubDelivery(ignored="push deleted the branch")
    after = p.get("after")
    if not isinstance(after, str) or not after:
        raise GithubPayloadError("push.after must be the pushed commit's sha")
    commits = p.get("commits") if isinstance(p.get("commits"), list) else []
    commits = [c for c in commits if isinstance(c, dict)]
    distinct = [c for c in commits if c.get("distinct", True) is not False]
    shas = [c["id"] for c in commits if isinstance(c.get("id"), str)]
    reverts: list[str] = []
    for c in distinct:
        message = c.get("message") if isinstance(c.get("message"), str) else ""
        reverts += [sha_ref(m.group(1)) for m in _SHA_RE.finditer(message)]
    login = _login(_obj(p, "sender"), "sender")
    pushed_at = repository.get("pushed_at")  # epoch seconds in push payloads (ISO 8601 in other events)
    occurred = (pushed_at if isinstance(pushed_at, int) and not isinstance(pushed_at, bool)
                and _plausible(pushed_at, received_ts) else received_ts)
    outcome = Outcome(id=f"github:push:{repo.lower()}:{after.lower()}", kind=PUSH, user_ref=github_alias(login),
                      occurred_at=occurred, source="github", link=_url(p.get("compare")),
                      count=max(1, len(distinct)), metadata={"repo": repo, "branch": branch, "commits": len(commits)},
                      refs=tuple(dict.fromkeys(sha_ref(s) for s in shas))[:MAX_REFS],
                      reverts=tuple(dict.fromkeys(reverts))[:MAX_REFS])
    return GithubDelivery(outcomes=(outcome,))


def _deployment_status(p: dict[str, Any], received_ts: int) -> GithubDelivery:
    status = _obj(p, "deployment_status")
    deployment = _obj(p, "deployment")
    if status.get("state") != "success":
        return GithubDelivery(ignored=f"deployment_status {status.get('state')!s:.40}: not a success")
    repo = _repo(p)
    deployment_id = deployment.get("id")
    if not isinstance(deployment_id, int) or isinstance(deployment_id, bool):
        raise GithubPayloadError("deployment.id must be a number")
    creator = deployment.get("creator") if isinstance(deployment.get("creator"), dict) else None
    login = _login(creator or _obj(p, "sender"), "deployment.creator")
    # One deploy per deployment, however many success statuses it gets.
    outcome = Outcome(id=f"github:deploy:{repo.lower()}:{deployment_id}", kind=DEPLOY, user_ref=github_alias(login),
                      occurred_at=_time(status.get("created_at"), "deployment_status.created_at",
                                              received_ts), source="github",
                      link=_url(status.get("environment_url") or status.get("target_url")
                                or status.get("log_url")), count=1,
                      metadata={"repo": repo, "environment": str(deployment.get("environment") or "")[:100],
                                "sha": str(deployment.get("sha") or "")[:64]},
                      refs=(sha_ref(deployment["sha"]),) if isinstance(deployment.get("sha"), str) else ())
    return GithubDelivery(outcomes=(outcome,))


def _obj(p: dict[str, Any], key: str) -> dict[str, Any]:
    value = p.get(key)
    if not isinstance(value, dict):
        raise GithubPayloadError(f"`{key}` must be an object")
    return value


def _repo(p: dict[str, Any]) -> str:
    name = _obj(p, "repository").get("full_name")
    if not isinstance(name, str) or "/" not in name or len(name) > 140:  # GitHub: owner <= 39, name <= 100
        raise GithubPayloadError("repository.full_name must be owner/name")
    return name


def _login(user: dict[str, Any], what: str) -> str:
    login = user.get("login")
    if not isinstance(login, str) or not login.strip():
        raise GithubPayloadError(f"{what}.login must be a GitHub login")
    return login[:100]


def _time(value: Any, what: str, received_ts: int) -> int:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None and _plausible(int(parsed.timestamp()), received_ts):
            return int(parsed.timestamp())
    raise GithubPayloadError(f"{what} must be an ISO 8601 time with a UTC offset, after 2000 and not in the future")


def _plausible(ts: int, received_ts: int) -> bool:
    return MIN_TS <= ts <= received_ts + FUTURE_SLACK_S


def _url(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) and value.startswith(("https://", "http://")) else None


# ---------------------------------------------------------------------------------------------------- other systems


def parse_outcomes(items: list[Any], now_ts: int) -> tuple[list[Outcome], list[Rejection]]:
    """`POST /v1/outcomes` items -> outcomes and per-item rejections (index, reason); nothing valid is dropped."""
    outcomes: list[Outcome] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, Rejection):
            rejections.append(item)
            continue
        parsed = parse_outcome(item, now_ts)
        if isinstance(parsed, str):
            rejections.append(Rejection(index, parsed, item))
        elif parsed.id not in seen:
            seen.add(parsed.id)
            outcomes.append(parsed)
    return outcomes, rejections


def parse_outcome(item: Any, now_ts: int) -> Outcome | str:
    """One item: {"type", "person", "time", "link"?, "id"?, "count"?, "reverts"?}; a string says what is wrong."""
    if not isinstance(item, dict):
        return f"each outcome must be a JSON object, got {type(item).__name__}"
    kind = item.get("type")
    if not isinstance(kind, str) or not TYPE_RE.match(kind):
        return (f"type: required, lower-case letters, digits and _ (at most 32), e.g. {PR_MERGED}, {DEPLOY}, "
                f"ticket_closed, incident_resolved; got {str(kind)[:40]!r}")
    person = item.get("person")
    if not isinstance(person, str) or not person.strip() or len(person) > 320:
        return "person: required, the person's email or an id the org file lists for them"
    ts = parse_timestamp(item.get("time"), now_ts)
    if isinstance(ts, str):
        return "time:" + ts.removeprefix("timestamp:")
    link = item.get("link")
    if link is not None and (not isinstance(link, str) or not link.startswith(("https://", "http://"))
                             or len(link) > 500):
        return "link: must be an http(s) URL of at most 500 characters"
    given = item.get("id")
    if given is not None and (not isinstance(given, str) or not given.strip() or len(given) > 200):
        return "id: must be a non-empty string of at most 200 characters"
    count = item.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
        return "count: must be a whole number from 1 to 1,000,000"
    reverts = item.get("reverts")
    if reverts is not None and (not isinstance(reverts, str) or not reverts.strip() or len(reverts) > 200):
        return "reverts: must be the id of an earlier outcome"
    user = person.strip().lower()
    # Without an id, the item itself is the key: a resend of the same item is a duplicate, not a second outcome.
    key = given.strip() if given else hashlib.sha256(f"{kind}|{user}|{ts}|{link or ''}".encode()).hexdigest()[:32]
    outcome_id = f"api:{key}"
    return Outcome(id=outcome_id, kind=kind, user_ref=user, occurred_at=ts, source="api", link=link, count=count,
                   refs=(f"id:{key}",), reverts=(f"id:{reverts.strip()}",) if reverts else ())


__all__ = ["DEPLOY", "GITHUB_ALIAS_PREFIX", "GithubDelivery", "GithubPayloadError", "Outcome", "PR_MERGED", "PUSH",
           "REVERT", "github_alias", "parse_github", "parse_outcome", "parse_outcomes", "revert_targets",
           "signature_ok"]
