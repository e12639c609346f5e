"""A Slack-compatible Web API server on 127.0.0.1 that records every call (the tests' "fake chat backend").

It speaks the Web API's wire format (form or JSON bodies, `{"ok": ...}` answers, 429 with Retry-After), so the bot
uses its real slack_sdk client against it through TOKENBOT_SLACK_API_URL. Nothing in the bot is patched."""
from __future__ import annotations

import asyncio
import itertools
import time
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    times: int = 1


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> {"email", "name", "tz"}
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # what was POSTed to response_urls
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> bytes POSTed to its upload URL
    posted: list[Call] = field(default_factory=list)  # chat.postMessage calls that Slack accepted (no fault)
    complete_upload_without_files: bool = False  # files.completeUploadExternal answers ok with an empty `files`
    delays: dict[str, float] = field(default_factory=dict)  # method -> seconds Slack takes to answer it
    channels: set[str] | None = None  # channels that exist (conversations.info); None: every well-formed id
    bad_tokens: set[str] = field(default_factory=set)  # tokens Slack answers invalid_auth for (mistyped, revoked)
    sockets: int = 0  # Socket Mode connections opened (apps.connections.open's URL)
    response_times: dict[str, float] = field(default_factory=dict)  # response_url key -> when it was POSTed to
    url: str = ""
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"{self.url}/response/{key}"

    def add_user(self, user_id: str, email: str, name: str = "", tz: str = "UTC") -> None:
        self.users[user_id] = {"email": email, "name": name or email.split("@")[0], "tz": tz}

    def fail(self, method: str, *, status: int = 200, error: str | None = "internal_error",
             retry_after: int | None = None, times: int = 1) -> None:
        self.faults.setdefault(method, []).append(Fault(status, error, retry_after, times))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk sends some reads (users.info) as GET
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/socket", self._socket)  # apps.connections.open hands this out (Socket Mode)
        app.router.add_post("/upload/{file_id}", self._upload)  # files.getUploadURLExternal hands these out
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if key in ("blocks", "attachments", "view") and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            params[key] = value
        for key, value in request.query.items():  # slack_sdk sends some arguments (files.*) in the query string
            params.setdefault(key, value)
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.get("token")
        self.calls.append(Call(method, params, token))
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        queue = self.faults.get(method)
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.status != 200:
                return web.json_response({"ok": False, "error": fault.error or "ratelimited"}, status=fault.status,
                                         headers=headers)
            return web.json_response({"ok": False, "error": fault.error})
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token in self.bad_tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        answer = self._answer(method, params)
        if method == "chat.postMessage":
            self.posted.append(Call(method, params | {"_ts": answer["ts"]}, token))
        return web.json_response(answer)

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "Test", "url": "https://test.slack.com/"}
        if method in ("chat.postMessage", "chat.update"):
            ts = p.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            channel = str(p.get("channel"))
            if channel.startswith(("U", "W")):  # posting to a user id lands in the DM channel with them
                channel = "D" + channel[1:]
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": p.get("text"), "ts": ts}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "conversations.open":
            users = str(p.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("U")}}
        if method == "users.info":
            user = self.users.get(str(p.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": p.get("user"), "name": user["name"], "tz": user["tz"],
                                         "profile": {"email": user["email"], "real_name": user["name"]}}}
        if method == "users.lookupByEmail":
            for user_id, user in self.users.items():
                if user["email"] == p.get("email"):
                    return {"ok": True, "user": {"id": user_id, "name": user["name"], "profile": {"email": user["email"]}}}
            return {"ok": False, "error": "users_not_found"}
        if method == "conversations.history":  # newest first; metadata only with include_all_metadata
            with_meta = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
            return {"ok": True, "has_more": False, "messages": [
                {"type": "message", "ts": c.params["_ts"], "text": c.params.get("text"),
                 **({"metadata": c.params["metadata"]} if with_meta and c.params.get("metadata") else {})}
                for c in reversed(self.posted) if c.params.get("channel") == p.get("channel")]}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}
        if method == "conversations.info":
            channel = str(p.get("channel", ""))
            exists = channel[:1] in "CGD" and channel[1:].isalnum() and (self.channels is None or channel in self.channels)
            if not exists:
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": {"id": channel, "is_archived": False}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = p.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            if any(f.get("id") not in self.uploads for f in files):
                return {"ok": False, "error": "file_not_found"}
            if self.complete_upload_without_files:
                return {"ok": True, "files": []}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method in ("views.open", "views.publish", "views.update", "views.push"):
            return {"ok": True, "view": {"id": f"V{next(self._ts)}", **(p.get("view") or {})}}
        return {"ok": True}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL step of Slack's external upload: raw bytes in, 200 "OK" out (fail("upload", …) faults it)."""
        data = await request.read()
        self.calls.append(Call("upload", {"file_id": request.match_info["file_id"], "length": len(data)}, None))
        queue = self.faults.get("upload")
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return web.Response(status=fault.status if fault.status != 200 else 500, text=fault.error or "error")
        self.uploads[request.match_info["file_id"]] = data
        return web.Response(text="OK - " + str(len(data)))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode as Slack runs it: a WebSocket that says hello, then stays open (no envelopes here)."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets += 1
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "A1"}}))
        async for _message in ws:  # acknowledgements and pongs; nothing to do with them
            pass
        return ws

    async def _response(self, request: web.Request) -> web.Response:
        self.response_times[request.match_info["key"]] = time.monotonic()
        self.responses.append(await request.json())
        return web.Response(text="ok")
