"""Hypothesis throws mutated GitHub deliveries (correctly signed: past the signature, into the parser) and arbitrary
outcome items at the two outcome endpoints over real HTTP: every answer is a clear 2xx/4xx with a JSON body, never a
500, and the valid outcomes among the junk are all stored."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from storage.tables.otlp import outcome_events
from tests.conftest import INGEST_TOKEN, NOW, bot_settings
from tests.handlers.http.test_fuzz import FUZZ, field_values, json_values, post
from tests.support import github_payloads as gh
from tests.support.github_bot import GH_ORG_YAML
from tests.support.threaded_bot import ThreadedBot

PATHS = {"pull_request": ["pull_request", "merged_at", "merged", "number", "title", "body", "user", "merge_commit_sha",
                          "repository", "full_name", "action", "login"],
         "push": ["ref", "after", "commits", "repository", "default_branch", "pushed_at", "sender", "deleted",
                  "message", "id", "distinct"],
         "deployment_status": ["deployment_status", "state", "created_at", "deployment", "id", "creator", "sha",
                               "repository", "environment_url"]}


def mutate(doc: object, key: str, value: object) -> None:
    """Set `key` to `value` wherever it occurs in the nested payload."""
    if isinstance(doc, dict):
        for k in list(doc):
            if k == key:
                doc[k] = value
            else:
                mutate(doc[k], key, value)
    elif isinstance(doc, list):
        for item in doc:
            mutate(item, key, value)


def test_github_and_outcomes_endpoints_never_500(tmp_path: Path) -> None:
    settings = lambda slack: bot_settings(tmp_path, slack, TOKENBOT_GITHUB_WEBHOOK_SECRET=gh.WEBHOOK_SECRET)  # noqa: E731
    with ThreadedBot(settings, NOW, GH_ORG_YAML) as bot:
        sent_valid: set[str] = set()
        bases = {"pull_request": lambda: gh.pull_request_closed(1, "ada-gh"),
                 "push": lambda: gh.push("ada-gh", [("a" * 40, "x")]),
                 "deployment_status": lambda: gh.deployment_status(1, "ada-gh")}

        @FUZZ
        @given(st.sampled_from(sorted(PATHS)), st.data(), st.lists(st.fixed_dictionaries({}, optional={
            k: field_values for k in ("type", "person", "time", "link", "id", "count", "reverts")}), max_size=6),
            st.integers(min_value=0, max_value=2))
        def check(event: str, data: st.DataObject, items: list, n_valid: int) -> None:
            payload = bases[event]()
            for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
                mutate(payload, data.draw(st.sampled_from(PATHS[event])), data.draw(json_values | field_values))
            body, headers = gh.signed(event, json.dumps(payload, default=str).encode())
            status, answer = post(f"{bot.url}/v1/ingest/github", body, headers)
            assert status in (200, 202, 400), (status, answer[:300])
            assert json.loads(answer)
            ids = [f"fuzz-{len(sent_valid)}-{i}" for i in range(n_valid)]
            valid = [{"type": "deploy", "person": "ada", "time": int(NOW.timestamp()) - 60, "id": i} for i in ids]
            status, answer = post(f"{bot.url}/v1/outcomes", json.dumps(items + valid, default=str).encode(),
                                  {"Authorization": f"Bearer {INGEST_TOKEN}"})
            assert status in (200, 400, 422), (status, answer[:300])
            assert json.loads(answer)
            if status == 200:  # (Python writes NaN, which is not JSON: then the body is a 400)
                sent_valid.update(f"api:{i}" for i in ids)

        check()

        async def stored() -> set[str]:
            async with bot.deps.engine.connect() as conn:
                return set((await conn.execute(select(outcome_events.c.id))).scalars())

        missing = sent_valid - asyncio.run_coroutine_threadsafe(stored(), bot.loop).result(30)
        assert sent_valid and not missing, f"valid outcomes lost: {sorted(missing)[:10]}"
