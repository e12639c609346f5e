"""The `/tokens admin` modal: pure Block Kit."""
from __future__ import annotations

from typing import Any

ADMIN_MODAL = "org_admin_submit"
ACTIONS = [
    ("set_team_budget", "Set a team's monthly budget"),
    ("set_person_budget", "Set a person's monthly budget"),
    ("add_approver", "Add an approver to a team"),
    ("remove_approver", "Remove an approver from a team"),
    ("set_digest_channel", "Set a team's digest channel"),
]


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


def admin_modal(teams: list[tuple[str, str]]) -> dict[str, Any]:
    """`teams`: (slug, name). Fields not needed by the chosen action are ignored; the server checks the rest."""
    return {
        "type": "modal", "callback_id": ADMIN_MODAL,
        "title": {"type": "plain_text", "text": "tokenbot admin"},
        "submit": {"type": "plain_text", "text": "Apply"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "action", "label": {"type": "plain_text", "text": "Change"},
             "element": {"type": "static_select", "action_id": "action",
                         "options": [_option(v, t) for v, t in ACTIONS]}},
            {"type": "input", "block_id": "team", "optional": True, "label": {"type": "plain_text", "text": "Team"},
             "element": {"type": "static_select", "action_id": "team",
                         "options": [_option(slug, f"{name} ({slug})") for slug, name in teams[:100]]}},
            {"type": "input", "block_id": "person", "optional": True,
             "label": {"type": "plain_text", "text": "Person (budget) or approver"},
             "element": {"type": "users_select", "action_id": "person"}},
            {"type": "input", "block_id": "amount", "optional": True,
             "label": {"type": "plain_text", "text": "Monthly budget (USD)"},
             "element": {"type": "plain_text_input", "action_id": "amount"}},
            {"type": "input", "block_id": "channel", "optional": True, "label": {"type": "plain_text", "text": "Channel"},
             "element": {"type": "conversations_select", "action_id": "channel",
                         "filter": {"include": ["public", "private"], "exclude_bot_users": True}}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "Every change is audited. Run `tokenbot org export` to write it back to the org file in git; "
                "until then `tokenbot org sync` refuses to undo it.")}]},
        ],
    }


def submitted(values: dict[str, Any]) -> dict[str, str | None]:
    """The modal's state values -> {field: value or None}."""
    def pick(block: str, key: str) -> str | None:
        # A forged submission may put anything anywhere: only a dict is looked into, only a string is a value.
        element = _dict(_dict(values.get(block)).get(block))
        value = _dict(element.get(key)).get("value") if key == "selected_option" else element.get(key)
        return value[:500] if isinstance(value, str) else None

    return {"action": pick("action", "selected_option"), "team": pick("team", "selected_option"),
            "person": pick("person", "selected_user"), "amount": pick("amount", "value"),
            "channel": pick("channel", "selected_conversation")}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
