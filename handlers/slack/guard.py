"""Every listener runs guarded: an exception (a forged payload the checks missed, a database error) is logged by type
and answered, never left to bolt, which would answer nothing until Slack gives up ("didn't call ack()") or a 500."""
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

FAILED = "Something went wrong; please try again. (The error is logged for the admins.)"


def guarded(listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(listener)  # bolt reads the wrapped function's parameter names to pass its arguments
    async def run(**kwargs: Any) -> None:
        try:
            await listener(**kwargs)
        except Exception as exc:  # noqa: BLE001 - answered below; the traceback goes to the log, never to Slack
            log.exception("Slack listener %s failed (%s)", listener.__name__, type(exc).__name__)
            ack = kwargs.get("ack")
            if ack is not None and getattr(ack, "response", None) is None:
                if kwargs.get("command") is not None:
                    await ack(text=FAILED, response_type="ephemeral")
                else:
                    await ack()

    return run
