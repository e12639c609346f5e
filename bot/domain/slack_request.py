"""Checks on a raw Slack request, made before anything parses it: pure functions of the bytes, the headers and the
current time (no I/O). Slack's signing: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}"), stale after 5 minutes."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl

MAX_SKEW_S = 300


def signature_problem(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                      now: float) -> str | None:
    """Why the request is not Slack's (a short reason for the log, never the body), or None when it is."""
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "X-Slack-Request-Timestamp is not epoch seconds"
    if abs(now - int(timestamp)) > MAX_SKEW_S:
        return "stale timestamp (more than 5 minutes off): a replay, or this server's clock is wrong"
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "signature does not match"
    return None


def body_problem(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not one Slack sends (events as a JSON object; commands and interactions as a form, an
    interaction's `payload` a JSON object), or None. Bolt parses exactly these; anything else would be its 500."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    if not text:
        return "body is empty"
    try:
        if content_type == "application/json" or text.startswith("{"):
            return _object_problem(json.loads(text), "body")
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in form:
            payload = json.loads(form["payload"])
            return _object_problem(payload, "payload") or payload_problem(payload)
    except (ValueError, RecursionError):  # json's errors are ValueErrors; a hostile depth is a RecursionError
        return "body is not valid JSON"
    if not form.get("command") and not form.get("ssl_check"):
        return "form is neither a slash command nor an interaction"
    return None


def payload_problem(payload: dict[str, Any]) -> str | None:
    """The fields bolt reads without checking, in the types Slack sends them (bolt raises on anything else)."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        return "payload has no type"
    user = payload.get("user")
    if user is not None and not (isinstance(user, dict) and isinstance(user.get("id"), str)):
        return "payload.user is not a Slack user"
    if kind in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str) \
                or not isinstance(view.get("callback_id"), str):
            return "payload.view is not a Slack view"
        if "state" in view and not isinstance(view["state"], dict):
            return "payload.view.state is not an object"
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) and isinstance(a.get("action_id"), str)
                                                    for a in actions):
            return "payload.actions is not a list of Slack actions"
    return None


def _object_problem(value: Any, what: str) -> str | None:
    return None if isinstance(value, dict) else f"{what} is not a JSON object"


__all__ = ["signature_problem", "body_problem", "MAX_SKEW_S"]
