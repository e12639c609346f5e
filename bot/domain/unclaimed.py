"""Unclaimed spend: usage whose gateway id no person in the org file names, shown to admins so a wrong gateway
setup is noticed the first day."""
from __future__ import annotations

from dataclasses import dataclass

HINT = ("Add the id to a person's `gateway_ids` in the org file (then `tokenbot org sync`); ids like `key:<hash>` mean "
        "the gateway sent no user: send the OpenAI `user` field, or use virtual keys with users.")
HOME_TOP = 5
SHOWN_ID_CHARS = 80  # a gateway id may be 320 characters; five of them escaped must fit one 3,000-character section


def requests_text(n: int) -> str:
    return f"{n:,} request" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class UnclaimedId:
    user_ref: str  # as the gateway sent it (lower-cased): what goes into a person's gateway_ids
    cost_micros: int
    requests: int
    last_ts: int


@dataclass(frozen=True)
class Unclaimed:
    cost_micros: int  # unpriced requests count as 0
    requests: int
    unpriced: int
    top: list[UnclaimedId]
