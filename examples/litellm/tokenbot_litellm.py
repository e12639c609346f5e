"""tokenbot's LiteLLM plugin: every request's usage to tokenbot, nothing lost; hard budgets enforced before the call.

Put this file next to the proxy's config.yaml and name its instance there (see examples/litellm/config.yaml):

    litellm_settings:
      callbacks: ["tokenbot_litellm.tokenbot"]

It needs nothing beyond what LiteLLM's proxy already has (httpx, fastapi, litellm). Settings, from the environment:

    TOKENBOT_URL              tokenbot's base URL; several replicas comma-separated (spread and failed over)
    TOKENBOT_TOKEN            one of tokenbot's TOKENBOT_INGEST_TOKENS
    TOKENBOT_SPOOL_DIR        where events wait until tokenbot has them (default ./tokenbot-spool)
    TOKENBOT_ENFORCE          "true" (default): ask tokenbot before each call; "false": usage only
    TOKENBOT_FAIL_MODE        "open" (default): allow when tokenbot cannot be asked; "closed": refuse (503)
    TOKENBOT_CHECK_TIMEOUT_S  how long the pre-call check may take (default 0.5)
    TOKENBOT_PROMPT_FINGERPRINT  "true": send a keyed hash of the prompt (never the text) for loop detection;
                              TOKENBOT_FINGERPRINT_KEY keys it (default: the token)

Usage: every success and failure event is appended to a spool file on disk (one unbuffered write: it survives a
crash or kill of LiteLLM), and a background task sends sealed segments of up to TOKENBOT_BATCH_SIZE events to
`POST /v1/ingest/litellm`, deleting a segment only once tokenbot has it, retrying with back-off (and the next
replica) while tokenbot is unreachable. A LiteLLM that restarts, or another worker, picks up what a dead process
left (its spool directory's lock is free). Ids are LiteLLM's call ids, so a resend is never counted twice. Prompts
and answers are never sent.

Budgets: `async_pre_call_hook` runs after LiteLLM's own authentication (it never replaces it) and asks tokenbot to
reserve the request's estimated cost for the authenticated identity: the virtual key's user and team, or with a
master key the OpenAI `user` field. A refusal is LiteLLM's own `budget_exceeded` error (HTTP 400), as for its own
budgets."""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import json
import logging
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("tokenbot_litellm")

# What tokenbot's mapper reads from a StandardLoggingPayload; everything else (prompts, answers) stays in LiteLLM.
_PAYLOAD_FIELDS = ("id", "litellm_call_id", "trace_id", "session_id", "call_type", "stream", "status",
                   "custom_llm_provider", "total_tokens", "prompt_tokens", "completion_tokens", "startTime", "endTime",
                   "model", "model_id", "model_group", "cache_hit", "request_tags", "end_user", "response_cost",
                   "error_str")
_METADATA_FIELDS = ("user_api_key_hash", "user_api_key_alias", "user_api_key_user_id", "user_api_key_user_email",
                    "user_api_key_team_id", "user_api_key_team_alias", "user_api_key_end_user_id",
                    "user_api_key_org_id", "spend_logs_metadata", "usage_object", "additional_usage_values",
                    "team_alias", "team_id")
_CHECKED_CALLS = {"completion", "acompletion", "text_completion", "atext_completion", "embeddings", "aembedding",
                  "responses", "aresponses", "anthropic_messages"}


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def slim_payload(payload: dict[str, Any], fingerprint: str | None = None) -> dict[str, Any]:
    """The fields tokenbot uses, JSON-safe; the prompt's fingerprint (a hash) if asked for."""
    out = {k: payload.get(k) for k in _PAYLOAD_FIELDS if payload.get(k) is not None}
    meta = payload.get("metadata") or {}
    out["metadata"] = {k: meta.get(k) for k in _METADATA_FIELDS if meta.get(k) is not None}
    info = payload.get("error_information")
    if isinstance(info, dict):
        out["error_information"] = {k: info.get(k) for k in ("error_code", "error_class", "llm_provider")}
    if isinstance(out.get("error_str"), str):
        out["error_str"] = out["error_str"][:300]
    if fingerprint is not None:
        out["tokenbot"] = {"prompt_fingerprint": fingerprint}
    return out


def prompt_fingerprint(messages: Any, key: bytes) -> str | None:
    """A keyed hash of the prompt: equal prompts give equal fingerprints; the text cannot be recovered from it."""
    if not messages:
        return None
    text = json.dumps(messages, sort_keys=True, default=str, separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


class Spool:
    """A write-ahead log of events on disk: `active.jsonl` takes appends; `seal()` turns it into a numbered segment
    that the sender sends whole and deletes. One directory per process, held by an flock that dies with it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.dir = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.dir.mkdir()
        self._lock = open(self.dir / ".lock", "w")  # noqa: SIM115 - held for the life of the process
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._seq = 0
        self.pending = 0  # lines in the active file
        self._active = open(self.dir / "active.jsonl", "ab", buffering=0)  # noqa: SIM115

    def append(self, line: bytes) -> None:
        self._active.write(line)  # unbuffered: in the page cache at once, so a killed process loses nothing
        self.pending += 1

    def seal(self) -> None:
        if self.pending == 0:
            return
        self._active.close()
        self._seq += 1
        (self.dir / "active.jsonl").rename(self.dir / f"seg-{time.time_ns()}-{self._seq:08d}.jsonl")
        self._active = open(self.dir / "active.jsonl", "ab", buffering=0)  # noqa: SIM115
        self.pending = 0

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("seg-*.jsonl"))

    def orphans(self) -> list[tuple[Path, Any]]:
        """Spool directories of processes that died (their lock is free), locked now by this process."""
        out = []
        for other in sorted(p for p in self.root.iterdir() if p.is_dir() and p != self.dir):
            try:
                lock = open(other / ".lock", "a")  # noqa: SIM115
            except OSError:
                continue
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()  # alive: its own process sends it
                continue
            active = other / "active.jsonl"
            if active.exists() and active.stat().st_size:
                active.rename(other / f"seg-{time.time_ns()}-orphan.jsonl")
            out.append((other, lock))
        return out


class TokenbotLogger(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.urls = [u.strip().rstrip("/") for u in os.environ.get("TOKENBOT_URL", "").split(",") if u.strip()]
        token = os.environ.get("TOKENBOT_TOKEN", "")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.enforce = _env_bool("TOKENBOT_ENFORCE", True)
        self.fail_closed = os.environ.get("TOKENBOT_FAIL_MODE", "open").strip().lower() == "closed"
        self.check_timeout = float(os.environ.get("TOKENBOT_CHECK_TIMEOUT_S", "0.5"))
        self.batch_size = int(os.environ.get("TOKENBOT_BATCH_SIZE", "500"))
        self.flush_interval = float(os.environ.get("TOKENBOT_FLUSH_INTERVAL_S", "1.0"))
        self.max_spool_bytes = int(os.environ.get("TOKENBOT_SPOOL_MAX_BYTES", str(1 << 30)))
        self.fingerprint_key = (os.environ.get("TOKENBOT_FINGERPRINT_KEY") or token).encode() \
            if _env_bool("TOKENBOT_PROMPT_FINGERPRINT", False) else None
        self.spool = Spool(Path(os.environ.get("TOKENBOT_SPOOL_DIR", "tokenbot-spool")))
        self._client: httpx.AsyncClient | None = None
        self._sender: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._next_url = 0
        self._last_warning = 0.0
        if not self.urls:
            log.error("tokenbot plugin: TOKENBOT_URL is not set; events are kept in %s until it is", self.spool.root)

    # -- usage ------------------------------------------------------------------------------------------------
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001, ANN201
        self._record(kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001, ANN201
        self._record(kwargs)

    def _record(self, kwargs: dict[str, Any]) -> None:
        payload = kwargs.get("standard_logging_object")
        if not isinstance(payload, dict) or _unauthenticated(payload):
            return
        fingerprint = None
        if self.fingerprint_key is not None:
            fingerprint = prompt_fingerprint(kwargs.get("messages") or kwargs.get("input"), self.fingerprint_key)
        line = json.dumps(slim_payload(payload, fingerprint), default=str, separators=(",", ":")).encode() + b"\n"
        self.spool.append(line)
        self._start()
        if self.spool.pending >= self.batch_size and self._wake is not None:
            self._wake.set()

    def _start(self) -> None:
        if self._sender is None or self._sender.done():
            self._wake = asyncio.Event()
            self._sender = asyncio.get_running_loop().create_task(self._send_forever())

    async def _send_forever(self) -> None:
        backoff = 0.5
        next_orphan_scan = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)  # type: ignore[union-attr]
            except asyncio.TimeoutError:
                pass
            self._wake.clear()  # type: ignore[union-attr]
            self.spool.seal()
            work: list[tuple[Path, Any]] = [(self.spool.dir, None)]
            if time.monotonic() >= next_orphan_scan:
                work += self.spool.orphans()
                next_orphan_scan = time.monotonic() + 30
            try:
                for directory, lock in work:
                    for segment in sorted(directory.glob("seg-*.jsonl")):
                        await self._send_segment(segment)
                    if lock is not None:  # an orphan fully sent
                        for leftover in directory.iterdir():
                            leftover.unlink()
                        directory.rmdir()
                        lock.close()
                backoff = 0.5
            except _Unsent as exc:
                for _directory, lock in work:
                    if lock is not None:
                        lock.close()  # another worker may take it; ours tries again after the back-off
                self._warn(f"tokenbot plugin: events not delivered yet ({exc}); kept in {self.spool.root}, "
                           f"retrying in {backoff:.1f} s")
                self._enforce_spool_limit()
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 30.0)
            except Exception:  # noqa: BLE001 - the sender must outlive any bug: events stay on disk
                log.exception("tokenbot plugin: sender error; events stay on disk")
                await asyncio.sleep(5)

    async def _send_segment(self, segment: Path) -> None:
        body = segment.read_bytes()
        if not body.strip():
            segment.unlink()
            return
        # One JSON array per request, as LiteLLM's generic_api logger sends (log_format json_array).
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        for start in range(0, len(lines), self.batch_size):
            chunk = b"[" + b",".join(lines[start:start + self.batch_size]) + b"]"
            await self._post_batch(chunk)
        segment.unlink()

    async def _post_batch(self, chunk: bytes) -> None:
        if not self.urls:
            raise _Unsent("TOKENBOT_URL is not set")
        url = self._url()
        try:
            resp = await self._http().post(f"{url}/v1/ingest/litellm", content=chunk, timeout=30.0,
                                           headers=self.headers | {"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            self._next_url += 1  # the next replica next time
            raise _Unsent(f"{url}: {type(exc).__name__}") from None
        if resp.status_code in (200, 422, 400):
            # 200 stored (duplicates included); 422/400: tokenbot kept what it could not read as dead letters.
            if resp.status_code != 200:
                log.error("tokenbot plugin: tokenbot rejected a batch (%s): %s", resp.status_code, resp.text[:300])
            return
        if resp.status_code in (401, 403):
            raise _Unsent(f"{url} refused the token ({resp.status_code}): check TOKENBOT_TOKEN")
        self._next_url += 1
        raise _Unsent(f"{url} answered {resp.status_code}")

    def _enforce_spool_limit(self) -> None:
        segments = sorted(self.spool.root.glob("*/seg-*.jsonl"), key=lambda p: p.name)
        total = sum(p.stat().st_size for p in segments)
        while total > self.max_spool_bytes and segments:
            oldest = segments.pop(0)
            total -= oldest.stat().st_size
            log.error("tokenbot plugin: spool over TOKENBOT_SPOOL_MAX_BYTES: dropping %s", oldest)
            oldest.unlink()

    # -- budgets ----------------------------------------------------------------------------------------------
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):  # noqa: ANN001, ANN201
        self._start()  # also sends what a previous process left, before the first event of this one
        if not self.enforce or call_type not in _CHECKED_CALLS or not self.urls:
            return data
        body = self._reservation(user_api_key_dict, data)
        self._next_url += 1  # spread checks over the replicas
        url = self._url()
        try:
            resp = await self._http().post(f"{url}/v1/budget/reserve", json=body, headers=self.headers,
                                           timeout=self.check_timeout)
            verdict = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            self._next_url += 1
            return self._unanswered(data, f"{url}: {type(exc).__name__}")
        if verdict is None:
            return self._unanswered(data, f"{url} answered {resp.status_code}")
        if not verdict.get("allowed", True):
            from litellm.proxy._types import ProxyErrorTypes, ProxyException

            raise ProxyException(message=f"tokenbot: {verdict.get('reason', 'budget used up')}",
                                 type=ProxyErrorTypes.budget_exceeded, param=None, code=400)
        route_to = verdict.get("route_to")
        if isinstance(route_to, str) and route_to and route_to != data.get("model"):
            # The team opted in (org file steering.route, announced in its channel): its preferred replacement.
            log.info("tokenbot plugin: routing %s to %s", data.get("model"), route_to)
            metadata = data.setdefault("metadata", {}) if isinstance(data.get("metadata", {}), dict) else {}
            metadata["tokenbot_routed_from"] = data.get("model")
            data["model"] = route_to
        return data

    def _unanswered(self, data: dict, why: str) -> dict:
        if self.fail_closed:
            from litellm.proxy._types import ProxyException

            self._warn(f"tokenbot plugin: budget check unavailable ({why}): refusing (TOKENBOT_FAIL_MODE=closed)")
            raise ProxyException(message="tokenbot: the budget check is unavailable; try again shortly",
                                 type="service_unavailable", param=None, code=503)
        self._warn(f"tokenbot plugin: budget check unavailable ({why}): allowing (TOKENBOT_FAIL_MODE=open)")
        return data

    def _reservation(self, key: Any, data: dict[str, Any]) -> dict[str, Any]:
        """What tokenbot needs to attribute and price the call: the authenticated key's identity (never a header
        the client chose), the deployment's model, input tokens and max_tokens."""
        deployment = _deployment_model(data.get("model"))
        provider = _provider(deployment)
        input_tokens = _input_tokens(deployment, data)
        max_tokens = data.get("max_tokens") or data.get("max_completion_tokens") or data.get("max_output_tokens")
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        body: dict[str, Any] = {
            "call_id": data.get("litellm_call_id"), "model": deployment, "provider": provider,
            "requested_model": data.get("model") if isinstance(data.get("model"), str) else None,
            "input_tokens": input_tokens, "max_tokens": max_tokens if isinstance(max_tokens, int) else None,
            "end_user": getattr(key, "end_user_id", None) or (data.get("user") if isinstance(data.get("user"), str) else None),
            "request_tags": metadata.get("tags") if isinstance(metadata.get("tags"), list) else [],
            "metadata": {"user_api_key_user_id": getattr(key, "user_id", None),
                         "user_api_key_user_email": getattr(key, "user_email", None),
                         "user_api_key_alias": getattr(key, "key_alias", None),
                         "user_api_key_team_id": getattr(key, "team_id", None),
                         "user_api_key_team_alias": getattr(key, "team_alias", None),
                         "user_api_key_hash": getattr(key, "api_key", None),
                         "spend_logs_metadata": metadata.get("spend_logs_metadata")},
        }
        estimate = _litellm_estimate(deployment, input_tokens, body["max_tokens"])
        if estimate is not None:
            body["estimate_usd"] = estimate
        return body

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # one client (one connection pool) for every call
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))
        return self._client

    def _url(self) -> str:
        return self.urls[self._next_url % len(self.urls)]

    def _warn(self, message: str) -> None:
        if time.monotonic() - self._last_warning > 10:  # one line per 10 s, not one per request
            self._last_warning = time.monotonic()
            log.warning(message)


class _Unsent(Exception):
    """A batch tokenbot does not have yet: it stays on disk."""


def _unauthenticated(payload: dict[str, Any]) -> bool:
    """A request LiteLLM refused at authentication (a wrong key): nobody's usage, and its "key hash" may be the
    wrong key's text, which must not travel further."""
    meta = payload.get("metadata") or {}
    return payload.get("status") == "failure" and not any(
        meta.get(k) for k in ("user_api_key_user_id", "user_api_key_alias", "user_api_key_team_id",
                              "user_api_key_end_user_id")) and not payload.get("end_user")


def _deployment_model(name: Any) -> str:
    """The model a model-group name routes to (`gpt-4o` -> `openai/gpt-4o`), as LiteLLM prices and logs it."""
    if not isinstance(name, str):
        return ""
    try:
        from litellm.proxy.proxy_server import llm_router

        for deployment in (llm_router.get_model_list(model_name=name) or []) if llm_router else []:
            return deployment["litellm_params"]["model"]
    except Exception:  # noqa: BLE001 - an estimate must never fail a request
        pass
    return name


def _provider(model: str) -> str | None:
    try:
        import litellm

        return litellm.get_llm_provider(model)[1]
    except Exception:  # noqa: BLE001
        return None


def _input_tokens(model: str, data: dict[str, Any]) -> int:
    messages, text = data.get("messages"), data.get("input") or data.get("prompt")
    try:
        import litellm

        if messages:
            return int(litellm.token_counter(model=model, messages=messages))
        if text:
            return int(litellm.token_counter(model=model, text=text if isinstance(text, (str, list)) else str(text)))
    except Exception:  # noqa: BLE001
        pass
    return len(json.dumps(messages or text or "", default=str)) // 4


def _litellm_estimate(model: str, input_tokens: int, max_tokens: int | None) -> float | None:
    """LiteLLM's own price for the call (tokenbot prefers its own, with the org's overrides)."""
    try:
        import litellm

        prompt_cost, completion_cost = litellm.cost_per_token(model=model, prompt_tokens=input_tokens,
                                                              completion_tokens=max_tokens or 0)
        return float(prompt_cost + completion_cost)
    except Exception:  # noqa: BLE001
        return None


tokenbot = TokenbotLogger()
