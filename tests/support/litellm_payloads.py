"""LiteLLM-shaped test data, from LiteLLM's documented types:

- `standard_payload`: a StandardLoggingPayload (litellm/types/utils.py; docs.litellm.ai/docs/proxy/logging_spec), what
  the generic API logger POSTs;
- `spend_log_row`: the LiteLLM_SpendLogs row LiteLLM writes for the same request (spend_tracking_utils.
  get_logging_payload: request_id = the payload id, user = user_api_key_user_id, team_id, metadata =
  SpendLogsMetadata with status/usage_object/additional_usage_values), as `/spend/logs/ui|v2` returns it."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

KEY_HASH = "88dca5aca52f4e6e6b6d5e8c3f1d0b4a1f3c2e9d8b7a6f5e4d3c2b1a0f9e8d7c"


def call_id(i: int) -> str:
    """LiteLLM's call id (a UUID4 unless the client sent `x-litellm-call-id`)."""
    return f"6f0e2b9c-1d3a-4c5e-8f7a-{i:012d}"


def standard_payload(i: int, start: float, *, user_id: str | None = "ada", email: str | None = "ada@test.example",
                     team_alias: str | None = "platform", model: str = "gpt-4o", provider: str = "openai",
                     prompt: int = 1200, completion: int = 100, cached: int = 200, cost: float | None = 0.0041,
                     status: str = "success", key_alias: str | None = "ada-laptop",
                     end_user: str | None = None) -> dict[str, Any]:
    failed = status == "failure"
    usage = {"completion_tokens": completion, "prompt_tokens": prompt, "total_tokens": prompt + completion,
             "completion_tokens_details": None,
             "prompt_tokens_details": {"audio_tokens": None, "cached_tokens": cached}}
    return {
        "id": f"chatcmpl-{i:08d}-5f2c",
        "litellm_call_id": call_id(i),
        "trace_id": f"trace-{i}",
        "call_type": "acompletion",
        "stream": False,
        "response_cost": 0.0 if failed else cost,
        "response_cost_failure_debug_info": None,
        "status": status,
        "custom_llm_provider": provider,
        "total_tokens": 0 if failed else prompt + completion,
        "prompt_tokens": 0 if failed else prompt,
        "completion_tokens": 0 if failed else completion,
        "startTime": start,
        "endTime": start + 1.25,
        "completionStartTime": start + 0.4,
        "response_time": 1.25,
        "model_map_information": {"model_map_key": model, "model_map_value": None},
        "model": model,
        "model_id": "4b1f0c5e9d",
        "model_group": model,
        "api_base": "https://api.openai.com/v1",
        "metadata": {
            "user_api_key_hash": KEY_HASH,
            "user_api_key_alias": key_alias,
            "user_api_key_org_id": None,
            "user_api_key_team_id": "9a7c1e52-team" if team_alias else None,
            "user_api_key_user_id": user_id,
            "user_api_key_user_email": email,
            "user_api_key_team_alias": team_alias,
            "user_api_key_end_user_id": end_user,
            "spend_logs_metadata": None,
            "requester_ip_address": "10.1.2.3",
            "requester_metadata": {},
            "prompt_management_metadata": None,
            "applied_guardrails": [],
            "mcp_tool_call_metadata": None,
            "vector_store_request_metadata": None,
            "usage_object": None if failed else usage,
        },
        "cache_hit": None,
        "cache_key": None,
        "saved_cache_cost": 0.0,
        "request_tags": [],
        "end_user": end_user,
        "requester_ip_address": "10.1.2.3",
        "messages": [{"role": "user", "content": "hi"}],
        "response": None if failed else {"id": f"chatcmpl-{i:08d}-5f2c", "object": "chat.completion"},
        "error_str": "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached" if failed else None,
        "error_information": ({"error_code": "429", "error_class": "RateLimitError", "llm_provider": provider,
                               "traceback": "", "error_message": "Rate limit reached"} if failed else None),
        "model_parameters": {"temperature": 0.2},
        "hidden_params": {"model_id": "4b1f0c5e9d", "cache_key": None, "api_base": "https://api.openai.com/v1",
                          "response_cost": str(cost), "litellm_overhead_time_ms": 3.1,
                          "additional_headers": {}},
        "guardrail_information": None,
        "standard_built_in_tools_params": None,
    }


def spend_log_row(p: dict[str, Any]) -> dict[str, Any]:
    """The LiteLLM_SpendLogs row for the request `p` describes, JSON-encoded as the proxy returns it."""
    meta = p["metadata"]

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"

    usage = meta.get("usage_object") or {}
    return {
        "request_id": p["id"],
        "litellm_call_id": p["litellm_call_id"],
        "call_type": p["call_type"],
        "api_key": KEY_HASH,
        "spend": p["response_cost"],
        "total_tokens": p["total_tokens"],
        "prompt_tokens": p["prompt_tokens"],
        "completion_tokens": p["completion_tokens"],
        "startTime": iso(p["startTime"]),
        "endTime": iso(p["endTime"]),
        "completionStartTime": iso(p["completionStartTime"]),
        "model": p["model"],
        "model_id": p["model_id"],
        "model_group": p["model_group"],
        "custom_llm_provider": p["custom_llm_provider"],
        "api_base": p["api_base"],
        "user": meta.get("user_api_key_user_id") or "",
        "metadata": {
            "user_api_key": KEY_HASH,
            "user_api_key_alias": meta.get("user_api_key_alias"),
            "user_api_key_team_id": meta.get("user_api_key_team_id"),
            "user_api_key_org_id": None,
            "user_api_key_user_id": meta.get("user_api_key_user_id"),
            "user_api_key_team_alias": meta.get("user_api_key_team_alias"),
            "spend_logs_metadata": None,
            "requester_ip_address": "10.1.2.3",
            "additional_usage_values": {k: v for k, v in usage.items()
                                        if k not in ("completion_tokens", "prompt_tokens", "total_tokens")},
            "applied_guardrails": [],
            "status": p["status"],
            "error_information": p["error_information"],
            "usage_object": usage or None,
        },
        "cache_hit": "False",
        "cache_key": "Cache OFF",
        "request_tags": [],
        "team_id": meta.get("user_api_key_team_id") or "",
        "end_user": p.get("end_user") or "",
        "requester_ip_address": "10.1.2.3",
        "messages": {},
        "response": {},
        "session_id": "0b4c1f7e",
        "status": p["status"],
        "proxy_server_request": {},
    }
