"""What a person reads in a Block Kit payload: every mrkdwn/plain text of sections, fields and context elements."""
from __future__ import annotations

import json
from typing import Any


def block_texts(blocks: list[dict[str, Any]] | str) -> str:
    if isinstance(blocks, str):  # form-encoded Web API calls carry blocks as a JSON string
        blocks = json.loads(blocks)
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])]
        out += [e["text"] for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)
