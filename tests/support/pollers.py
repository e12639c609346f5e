"""Helpers for poller tests: the running bot's deps with connector settings pointed at local fake servers."""
from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from bot.features.deps import Deps


def deps_with(deps: Deps, **settings: object) -> Deps:
    """The same deps (engine, clock, ledger) with some settings changed; SecretStr for the *_key fields."""
    update = {k: SecretStr(v) if k.endswith("_key") and isinstance(v, str) else v for k, v in settings.items()}
    return dataclasses.replace(deps, settings=deps.settings.model_copy(update=update))


class RecordingSleep:
    """Stands in for asyncio.sleep in back-off so tests see the waits without spending them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
