"""The LiteLLM mapper: both LiteLLM shapes of one request become the same validated event."""
from __future__ import annotations

import json

from bot.domain.litellm import litellm_to_event
from bot.domain.usage_events import parse_event
from tests.support.litellm_payloads import KEY_HASH, call_id, spend_log_row, standard_payload

START = 1_763_470_000.25
NOW = int(START) + 3600


def test_standard_payload_maps_to_a_valid_event() -> None:
    event = litellm_to_event(standard_payload(1, START))
    assert isinstance(event, dict)
    parsed = parse_event(event, NOW)
    assert not isinstance(parsed, str), parsed
    assert parsed.id == f"litellm:{call_id(1)}"  # LiteLLM's call id, not the provider's response id
    assert parsed.ts == int(START)
    assert (parsed.user, parsed.team, parsed.model, parsed.provider) == ("ada", "platform", "gpt-4o", "openai")
    assert (parsed.input_tokens, parsed.output_tokens, parsed.cached_input_tokens) == (1200, 100, 200)
    assert parsed.cost_usd == 0.0041
    assert parsed.metadata["status"] == "success" and parsed.metadata["key_alias"] == "ada-laptop"


def test_spend_log_row_of_the_same_request_is_the_same_event() -> None:
    p = standard_payload(7, START)
    a = parse_event(litellm_to_event(p), NOW)
    b = parse_event(litellm_to_event(spend_log_row(p)), NOW)
    assert a == b


def test_spend_log_row_from_a_csv_export_has_metadata_as_a_json_string() -> None:
    row = spend_log_row(standard_payload(3, START))
    row["metadata"] = json.dumps(row["metadata"])
    row["spend"] = str(row["spend"])
    row["prompt_tokens"] = "1200"
    row["startTime"] = "2025-11-18 12:46:40.250000"  # naive: LiteLLM stores UTC
    event = parse_event(litellm_to_event(row), NOW)
    assert not isinstance(event, str), event
    assert event.cost_usd == 0.0041 and event.input_tokens == 1200 and event.cached_input_tokens == 200
    assert event.ts == 1_763_470_000


def test_user_falls_back_to_email_then_end_user_then_key_alias_then_key() -> None:
    def user(**over: object) -> str:
        return litellm_to_event(standard_payload(1, START, **over))["user"]  # type: ignore[index]

    assert user() == "ada"
    assert user(user_id=None) == "ada@test.example"
    assert user(user_id=None, email=None, end_user="customer-9") == "customer-9"
    assert user(user_id=None, email=None) == "ada-laptop"
    assert user(user_id=None, email=None, key_alias=None) == f"key:{KEY_HASH}"


def test_team_alias_becomes_a_slug() -> None:
    event = litellm_to_event(standard_payload(1, START, team_alias="Research Team"))
    assert event["team"] == "research-team"  # type: ignore[index]
    assert "team" not in litellm_to_event(standard_payload(1, START, team_alias=None))  # type: ignore[operator]


def test_failure_is_a_zero_cost_zero_token_event_marked_failed() -> None:
    event = litellm_to_event(standard_payload(2, START, status="failure"))
    parsed = parse_event(event, NOW)
    assert not isinstance(parsed, str)
    assert (parsed.cost_usd, parsed.input_tokens, parsed.output_tokens) == (0.0, 0, 0)
    assert parsed.metadata["status"] == "failure"
    assert parsed.metadata["error"].startswith("litellm.RateLimitError")


def test_zero_cost_with_tokens_is_left_to_genai_prices_unless_a_cache_hit() -> None:
    assert "cost_usd" not in litellm_to_event(standard_payload(1, START, cost=0.0))  # type: ignore[operator]
    hit = standard_payload(1, START, cost=0.0) | {"cache_hit": True}
    assert litellm_to_event(hit)["cost_usd"] == 0.0  # type: ignore[index]
    assert "cost_usd" not in litellm_to_event(standard_payload(1, START, cost=None))  # type: ignore[operator]


def test_unusable_items_say_why() -> None:
    assert litellm_to_event("x") == "each LiteLLM log must be a JSON object"
    assert litellm_to_event({k: v for k, v in standard_payload(1, START).items() if k not in ("id", "litellm_call_id")}).startswith("id:")
    assert litellm_to_event(standard_payload(1, START) | {"startTime": None, "endTime": None}).startswith("startTime")
    assert litellm_to_event(standard_payload(1, START) | {"model": None, "model_group": None}) == "model: required"


def test_placeholder_user_ids_are_no_identity_so_the_openai_user_field_counts() -> None:
    """A master key: LiteLLM logs `default_user_id` as the key's user and the caller's `user` field as end_user."""
    def user(**over: object) -> str:
        return litellm_to_event(standard_payload(1, START, email=None, key_alias=None, **over))["user"]  # type: ignore[index]

    assert user(user_id="default_user_id", end_user="u01") == "u01"
    assert user(user_id="default_user_id") == f"key:{KEY_HASH}"
    row = spend_log_row(standard_payload(1, START, user_id="default_user_id", email=None, key_alias=None, end_user="u02"))
    assert litellm_to_event(row)["user"] == "u02"  # type: ignore[index]
    assert user(user_id="ada", end_user="mallory") == "ada"  # a key bound to a user: the client's word does not count


def test_separate_calls_with_one_response_id_stay_separate() -> None:
    """Mocks and cache hits repeat the provider's response id; LiteLLM's call id is per call."""
    a = litellm_to_event(standard_payload(1, START))
    b = litellm_to_event(standard_payload(1, START) | {"litellm_call_id": call_id(2)})
    assert a["id"] != b["id"]  # type: ignore[index]
    assert b["metadata"]["response_id"] == "chatcmpl-00000001-5f2c"  # type: ignore[index]
    legacy = {k: v for k, v in standard_payload(1, START).items() if k != "litellm_call_id"}
    assert litellm_to_event(legacy)["id"] == "litellm:chatcmpl-00000001-5f2c"  # type: ignore[index]


def test_team_from_key_then_spend_logs_metadata_then_tag() -> None:
    def team(team_alias: str | None = None, extra: dict | None = None, tags: list | None = None) -> str | None:
        p = standard_payload(1, START, team_alias=team_alias)
        p["metadata"]["spend_logs_metadata"] = extra
        p["request_tags"] = tags or []
        return litellm_to_event(p).get("team")  # type: ignore[union-attr]

    assert team(extra={"team": "research"}) == "research"
    assert team(tags=["prod", "team:Research"]) == "research"
    assert team("platform", extra={"team": "research"}, tags=["team:research"]) == "platform"  # the key's team wins
    assert team() is None


def test_negative_tokens_and_cost_are_rejected_as_on_v1_usage() -> None:
    for field in ("prompt_tokens", "completion_tokens"):
        assert litellm_to_event(standard_payload(1, START) | {field: -5}) == f"{field}: cannot be negative"
    assert litellm_to_event(standard_payload(1, START) | {"response_cost": -0.5}) == \
        "response_cost: must be a finite number >= 0"


def test_far_future_start_time_is_reported_as_future() -> None:
    parsed = parse_event(litellm_to_event(standard_payload(1, START) | {"startTime": 32_503_680_000.0}), NOW)
    assert parsed == "timestamp: more than a day in the future"
