"""A LiteLLM proxy's spend-log API on 127.0.0.1: `GET /spend/logs/v2` and `/spend/logs/ui`, as LiteLLM serves them
(spend_management_endpoints.ui_view_spend_logs): admin bearer key, `start_date`/`end_date` "YYYY-MM-DD HH:MM:SS"
UTC required (inclusive, on startTime), `page` >= 1, `page_size` 1..100, newest first, answer
`{"data", "total", "page", "page_size", "total_pages"}`. Faults (500, 429 with Retry-After) can be injected."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int
    page: int | None = None  # only on this page number; None: any request
    retry_after: str | None = None
    times: int = 1


@dataclass
class FakeLiteLLM:
    admin_key: str = "sk-litellm-admin"
    rows: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    v2_enabled: bool = True
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    def fail(self, status: int, *, page: int | None = None, retry_after: str | None = None, times: int = 1) -> None:
        self.faults.append(Fault(status, page, retry_after, times))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/spend/logs/v2", self._v2)
        app.router.add_get("/spend/logs/ui", self._spend_logs)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _v2(self, request: web.Request) -> web.Response:
        if not self.v2_enabled:
            return web.json_response({"detail": "Not Found"}, status=404)
        return await self._spend_logs(request)

    async def _spend_logs(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.calls.append((request.path, q))
        if request.headers.get("Authorization") != f"Bearer {self.admin_key}":
            return web.json_response({"error": {"message": "Authentication Error, Invalid proxy server token passed",
                                                "type": "auth_error", "param": "None", "code": "401"}}, status=401)
        page = int(q.get("page", "1"))
        for fault in self.faults:
            if fault.times > 0 and (fault.page is None or fault.page == page):
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return web.json_response({"error": {"message": "Internal Server Error", "type": "internal_error",
                                                    "param": "None", "code": str(fault.status)}},
                                         status=fault.status, headers=headers)
        if "start_date" not in q or "end_date" not in q:
            return web.json_response({"error": {"message": "Start date and end date are required",
                                                "type": "bad_request", "param": "None", "code": "400"}}, status=400)
        start = _parse(q["start_date"])
        end = _parse(q["end_date"])
        page_size = int(q.get("page_size", "50"))
        if page < 1 or not 1 <= page_size <= 100:
            return web.json_response({"detail": [{"msg": "page_size must be 1..100"}]}, status=422)
        matching = sorted((r for r in self.rows if start <= _row_time(r) <= end), key=_row_time, reverse=True)
        data = matching[(page - 1) * page_size: page * page_size]
        return web.json_response({"data": data, "total": len(matching), "page": page, "page_size": page_size,
                                  "total_pages": (len(matching) + page_size - 1) // page_size})


def _parse(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def _row_time(row: dict[str, Any]) -> float:
    return datetime.fromisoformat(row["startTime"].replace("Z", "+00:00")).timestamp()
