"""POST /v1/ingest/github: GitHub deliveries as GitHub documents and signs them (tests/support/github_payloads.py),
over HTTP into the running bot, on a real database; and POST /v1/outcomes from other systems."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select

from storage.tables.otlp import outcome_events
from storage.tables.outcomes import github_deliveries, outcome_reverts
from tests.conftest import INGEST_TOKEN, RunningBot
from tests.support import github_payloads as gh
from tests.support.github_bot import GH_ORG_YAML, deliver, gh_bot  # noqa: F401 - the fixture

async def outcome_rows(bot: RunningBot) -> list[dict]:
    async with bot.deps.engine.connect() as conn:
        rows = await conn.execute(select(outcome_events).order_by(outcome_events.c.id))
        return [dict(r) for r in rows.mappings()]


async def count(bot: RunningBot, table) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def person_id(bot: RunningBot, email: str) -> int:
    person = await bot.deps.org.person_by_email(email)
    assert person is not None
    return person.id


async def test_merged_pull_request_becomes_its_authors_outcome_and_replays_change_nothing(gh_bot) -> None:
    payload = gh.pull_request_closed(42, "ada-gh", title="Add rate limiter")
    status, body = await deliver(gh_bot, "pull_request", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert status == 200
    assert body == {"event": "pull_request", "accepted": 1, "duplicates": 0, "reverted": 0,
                    "duplicate_delivery": False}
    rows = await outcome_rows(gh_bot)
    assert [(r["id"], r["kind"], r["user_ref"], r["count"], r["source"]) for r in rows] == [
        ("github:pr:acme/api#42", "pr_merged", "github:ada-gh", 1, "github")]
    assert rows[0]["person_id"] == await person_id(gh_bot, "ada@test.example")
    assert rows[0]["team_id"] != 0
    assert rows[0]["occurred_at"] == 1_795_010_400  # merged_at 2026-11-18T14:00:00Z
    assert rows[0]["link"] == "https://github.com/acme/api/pull/42"
    # GitHub's "Redeliver" sends the same delivery id: nothing changes.
    status, body = await deliver(gh_bot, "pull_request", payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert status == 200 and body["duplicate_delivery"] is True and body["accepted"] == 0
    # The same merge in a different delivery (a second hook on the org) is a duplicate outcome.
    status, body = await deliver(gh_bot, "pull_request", payload)
    assert status == 200 and body["accepted"] == 0 and body["duplicates"] == 1
    assert len(await outcome_rows(gh_bot)) == 1
    assert await count(gh_bot, github_deliveries) == 2


async def test_wrong_or_missing_signature_is_401_before_anything_is_read(gh_bot) -> None:
    payload = gh.pull_request_closed(7, "ada-gh")
    body, headers = gh.signed("pull_request", payload, secret="not-the-secret")
    async with gh_bot.http.post(f"{gh_bot.url}/v1/ingest/github", data=body, headers=headers) as resp:
        assert resp.status == 401
        assert "X-Hub-Signature-256" in (await resp.json())["error"]
    del headers["X-Hub-Signature-256"]
    async with gh_bot.http.post(f"{gh_bot.url}/v1/ingest/github", data=body, headers=headers) as resp:
        assert resp.status == 401
    # A correct signature of a different body (the body was altered on the way).
    _, good = gh.signed("pull_request", payload)
    async with gh_bot.http.post(f"{gh_bot.url}/v1/ingest/github", data=body + b" ", headers=good) as resp:
        assert resp.status == 401
    # Not even JSON, unsigned: still 401 (the signature is checked before parsing).
    async with gh_bot.http.post(f"{gh_bot.url}/v1/ingest/github", data=b"{not json",
                                headers={"X-GitHub-Event": "push"}) as resp:
        assert resp.status == 401
    assert await outcome_rows(gh_bot) == [] and await count(gh_bot, github_deliveries) == 0


async def test_ping_other_events_and_non_outcomes(gh_bot) -> None:
    status, body = await deliver(gh_bot, "ping", gh.ping())
    assert status == 200 and body["ok"] is True
    status, body = await deliver(gh_bot, "issues", {"action": "opened", "issue": {"number": 1},
                                                    "repository": gh.repository(), "sender": gh.user("ada-gh")})
    assert status == 202 and "not an outcome" in body["ignored"]
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(8, "ada-gh", merged=False))
    assert status == 202 and "not a merge" in body["ignored"]
    status, body = await deliver(gh_bot, "push", gh.push("ada-gh", [("a" * 40, "wip")], ref="refs/heads/feature"))
    assert status == 202 and "not the default branch" in body["ignored"]
    status, body = await deliver(gh_bot, "deployment_status", gh.deployment_status(5, "ada-gh", state="pending"))
    assert status == 202 and "not a success" in body["ignored"]
    assert await outcome_rows(gh_bot) == []
    # Signed, but not GitHub's shape: a clear 400.
    status, body = await deliver(gh_bot, "pull_request", {"action": "closed", "pull_request": {"merged": True}})
    assert status == 400 and "repository" in body["error"]
    status, body = await deliver(gh_bot, "push", b"[1, 2")
    assert status == 400 and "not valid JSON" in body["error"]


async def test_push_to_default_branch_and_successful_deploy(gh_bot) -> None:
    status, body = await deliver(gh_bot, "push", gh.push("ada-gh", [("b" * 40, "Fix typo"), ("c" * 40, "Bump")]))
    assert status == 200 and body["accepted"] == 1
    status, body = await deliver(gh_bot, "deployment_status", gh.deployment_status(390942251, "ada-gh"))
    assert status == 200 and body["accepted"] == 1
    # A second success status of the same deployment (a re-run) is the same deploy.
    again = gh.deployment_status(390942251, "ada-gh", created_at="2026-11-18T14:40:00Z")
    status, body = await deliver(gh_bot, "deployment_status", again)
    assert status == 200 and body["duplicates"] == 1
    rows = {r["kind"]: r for r in await outcome_rows(gh_bot)}
    assert set(rows) == {"push", "deploy"}
    assert rows["push"]["count"] == 2 and rows["push"]["occurred_at"] == 1_795_010_400
    assert rows["deploy"]["id"] == "github:deploy:acme/api:390942251"
    assert rows["deploy"]["occurred_at"] == 1_795_012_200
    assert {r["person_id"] for r in rows.values()} == {await person_id(gh_bot, "ada@test.example")}
    # `tokenbot usage outcomes` lists them beside Claude Code's own counters.
    from bot.features.outcomes import load_outcomes, outcomes_plain

    assert "ada@test.example: 0 pull requests, 0 commits, 1 deploy, 2 push" in outcomes_plain(
        *await load_outcomes(gh_bot.deps))


async def test_form_encoded_deliveries_are_read_too(gh_bot) -> None:
    payload = gh.pull_request_closed(9, "ada-gh")
    body = urlencode({"payload": json.dumps(payload)}).encode()
    _, headers = gh.signed("pull_request", body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with gh_bot.http.post(f"{gh_bot.url}/v1/ingest/github", data=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["accepted"] == 1


async def test_revert_pull_request_marks_the_original_reverted(gh_bot) -> None:
    await deliver(gh_bot, "pull_request", gh.pull_request_closed(42, "ada-gh", title="Add rate limiter",
                                                                  merge_commit_sha="d" * 40))
    await deliver(gh_bot, "pull_request", gh.pull_request_closed(43, "ada-gh", title="Cache tokens"))
    await deliver(gh_bot, "pull_request", gh.pull_request_closed(44, "ada-gh", title="Tune pool"))
    # GitHub's "Revert" button: title `Revert "<title>"`, body "Reverts owner/repo#42".
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(
        50, "alan-gh", title='Revert "Add rate limiter"', body="Reverts acme/api#42"))
    assert status == 200 and body["reverted"] == 1
    # git revert's message in a PR body: "This reverts commit <sha>." (a squash-merged PR's commit).
    sha43 = gh.pull_request_closed(43, "x")["pull_request"]["merge_commit_sha"]
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(
        51, "ada-gh", title="Undo caching", body=f"This reverts commit {sha43}."))
    assert body["reverted"] == 1
    # Only the title names it.
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(
        52, "ada-gh", title='Revert "Tune pool"', body=None))
    assert body["reverted"] == 1
    async with gh_bot.deps.engine.connect() as conn:
        reverted = dict((await conn.execute(select(outcome_reverts.c.outcome_id, outcome_reverts.c.reverted_by))).all())
    assert reverted == {"github:pr:acme/api#42": "github:pr:acme/api#50",
                        "github:pr:acme/api#43": "github:pr:acme/api#51",
                        "github:pr:acme/api#44": "github:pr:acme/api#52"}
    kinds = {r["id"]: r["kind"] for r in await outcome_rows(gh_bot)}
    assert kinds["github:pr:acme/api#50"] == "revert" and kinds["github:pr:acme/api#42"] == "pr_merged"


async def test_unknown_login_is_kept_and_moves_to_the_person_at_org_sync(gh_bot, tmp_path: Path) -> None:
    from bot.cli.main import _sync_org

    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(60, "alan-gh"))
    assert status == 200 and body["accepted"] == 1
    [row] = await outcome_rows(gh_bot)
    assert row["person_id"] is None and row["team_id"] == 0 and row["user_ref"] == "github:alan-gh"
    org_file = tmp_path / "org.yml"
    org_file.write_text(GH_ORG_YAML.replace("gateway_ids: [alan]}", "gateway_ids: [alan], github: alan-gh}"))
    lines = await _sync_org(gh_bot.deps, org_file)
    assert any("outcome events" in line for line in lines), lines
    [row] = await outcome_rows(gh_bot)
    alan = await gh_bot.deps.org.person_by_email("alan@test.example")
    assert row["person_id"] == alan.id and row["team_id"] == alan.team_id
    # Later deliveries by that login are Alan's at once.
    await deliver(gh_bot, "deployment_status", gh.deployment_status(77, "Alan-GH"))
    assert {r["person_id"] for r in await outcome_rows(gh_bot)} == {alan.id}


async def test_disabled_without_a_secret(bot) -> None:  # noqa: ANN001
    body, headers = gh.signed("ping", gh.ping())
    async with bot.http.post(f"{bot.url}/v1/ingest/github", data=body, headers=headers) as resp:
        assert resp.status == 503 and "TOKENBOT_GITHUB_WEBHOOK_SECRET" in (await resp.json())["error"]


async def post_outcomes(bot: RunningBot, items: object, token: str = INGEST_TOKEN) -> tuple[int, dict]:
    async with bot.http.post(f"{bot.url}/v1/outcomes", data=json.dumps(items),
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def test_outcomes_from_other_systems(gh_bot) -> None:
    items = [
        {"type": "ticket_closed", "person": "ada@test.example", "time": "2026-11-18T10:00:00Z",
         "link": "https://jira.acme.example/browse/API-1", "id": "jira-API-1"},
        {"type": "incident_resolved", "person": "ALAN", "time": 1_794_996_000},
        {"type": "deploy", "person": "ada", "time": "2026-11-18T11:00:00+01:00", "count": 2},
        {"type": "Ticket Closed", "person": "ada@test.example", "time": "2026-11-18T10:00:00Z"},
        {"type": "ticket_closed", "time": "2026-11-18T10:00:00Z"},
        {"type": "ticket_closed", "person": "ada", "time": "yesterday"},
        {"type": "ticket_closed", "person": "ada", "time": 1_794_996_000, "link": "javascript:alert(1)"},
        {"type": "ticket_closed", "person": "ada", "time": 1_794_996_000, "count": 0},
        "not an object",
        {"type": "ticket_closed", "person": "nobody@else.example", "time": 1_794_996_000},
    ]
    status, body = await post_outcomes(gh_bot, items)
    assert status == 200
    assert body["accepted"] == 4 and body["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == {3, 4, 5, 6, 7, 8}
    assert reasons[3].startswith("type:") and reasons[4].startswith("person: required")
    assert reasons[5].startswith("time:") and "RFC 3339" in reasons[5]
    assert reasons[6].startswith("link:") and reasons[7].startswith("count:")
    assert reasons[8].startswith("each outcome must be a JSON object")
    rows = {r["id"]: r for r in await outcome_rows(gh_bot)}
    ada = await person_id(gh_bot, "ada@test.example")
    assert rows["api:jira-API-1"]["person_id"] == ada and rows["api:jira-API-1"]["kind"] == "ticket_closed"
    assert sum(r["count"] for r in rows.values() if r["kind"] == "deploy") == 2
    assert [r["person_id"] for r in rows.values() if r["user_ref"] == "nobody@else.example"] == [None]
    # Replayed: nothing changes (ids given, or derived from the item).
    status, body = await post_outcomes(gh_bot, items)
    assert status == 200 and body["accepted"] == 0 and body["duplicates"] == 4
    assert len(await outcome_rows(gh_bot)) == 4
    # A revert names an earlier outcome by its id.
    status, body = await post_outcomes(gh_bot, [{"type": "rollback", "person": "ada", "time": 1_795_006_000,
                                                 "reverts": "jira-API-1"}])
    assert body["accepted"] == 1 and body["reverted"] == 1
    status, body = await post_outcomes(gh_bot, [items[4]])
    assert status == 422
    status, body = await post_outcomes(gh_bot, items, token="wrong")
    assert status == 401


async def test_a_revert_delivered_before_the_original_still_marks_it(gh_bot) -> None:
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(
        71, "ada-gh", title='Revert "Speed up"', body="Reverts acme/api#70"))
    assert (status, body["accepted"], body["reverted"]) == (200, 1, 0)
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(70, "ada-gh", title="Speed up"))
    assert (status, body["accepted"], body["reverted"]) == (200, 1, 1)
    async with gh_bot.deps.engine.connect() as conn:
        reverted = dict((await conn.execute(select(outcome_reverts.c.outcome_id, outcome_reverts.c.reverted_by))).all())
    assert reverted == {"github:pr:acme/api#70": "github:pr:acme/api#71"}
    # A revert named only by title marks the earlier PR of that title, never a later one that repeats the title.
    await deliver(gh_bot, "pull_request", gh.pull_request_closed(80, "ada-gh", title="Bump deps"))
    status, body = await deliver(gh_bot, "pull_request",
                                 gh.pull_request_closed(81, "ada-gh", title='Revert "Bump deps"', body=""))
    assert body["reverted"] == 1
    status, body = await deliver(gh_bot, "pull_request", gh.pull_request_closed(82, "ada-gh", title="Bump deps"))
    assert (body["accepted"], body["reverted"]) == (1, 0)
    # Two earlier PRs of one title: a title-only revert undoes the latest before it.
    for number, day in ((90, 17), (91, 18)):
        await deliver(gh_bot, "pull_request",
                      gh.pull_request_closed(number, "ada-gh", title="Tweak", merged_at=f"2026-11-{day}T10:00:00Z"))
    await deliver(gh_bot, "pull_request", gh.pull_request_closed(92, "ada-gh", title='Revert "Tweak"', body=None,
                                                                  merged_at="2026-11-18T12:00:00Z"))
    async with gh_bot.deps.engine.connect() as conn:
        reverted = dict((await conn.execute(select(outcome_reverts.c.outcome_id, outcome_reverts.c.reverted_by))).all())
    assert reverted["github:pr:acme/api#91"] == "github:pr:acme/api#92" and "github:pr:acme/api#90" not in reverted
