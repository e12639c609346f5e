"""OTLP/HTTP receiver: `POST /v1/logs`, `/v1/metrics`, `/v1/traces` on tokenbot's own port, as OpenTelemetry's
exporters send them (protobuf or JSON, gzip or not), bearer-token protected (`OTEL_EXPORTER_OTLP_HEADERS=
"Authorization=Bearer …"`).

Answers as the OTLP specification says, in the request's encoding: 200 with an empty response, or with
`partial_success` counting the rejected records and saying why; 400 (a `google.rpc.Status`) for a body that is not
an export request, which exporters do not retry; 503 with Retry-After while the database is unreachable, which they do.
gRPC is not served (see the README): it would need a second server, port and runtime (grpcio) for what the exporters
already send over HTTP."""
from __future__ import annotations

import logging

import orjson
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from google.protobuf import json_format

from bot.domain.otlp import JSON, PROTOBUF, SIGNALS, OtlpBodyError, decode_request, media_type, rejected_reasons
from bot.features.deps import Deps
from bot.features.otlp_ingest import SOURCE, OtlpIngest, OtlpReport
from handlers.http.guard import read_capped, token_ok
from storage.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

_RESPONSES = {"logs": (ExportLogsServiceResponse, "rejected_log_records"),
              "metrics": (ExportMetricsServiceResponse, "rejected_data_points"),
              "traces": (ExportTraceServiceResponse, "rejected_spans")}
# google.rpc.Code
_INVALID_ARGUMENT, _UNAUTHENTICATED, _UNAVAILABLE, _RESOURCE_EXHAUSTED = 3, 16, 14, 8


def status_body(code: int, message: str, as_json: bool) -> bytes:
    """A google.rpc.Status (code, message), the OTLP error body, without pulling in googleapis' protos."""
    if as_json:
        return orjson.dumps({"code": code, "message": message})
    raw = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(raw)) + raw


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _error(status: int, code: int, message: str, as_json: bool, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=status_body(code, message, as_json),
                        content_type=JSON if as_json else PROTOBUF, headers=headers)


def export_response(signal: str, report: OtlpReport, as_json: bool) -> web.Response:
    response_type, rejected_field = _RESPONSES[signal]
    message = response_type()
    if report.rejected:
        setattr(message.partial_success, rejected_field, len(report.rejected))
        message.partial_success.error_message = rejected_reasons(report.rejected)
    if as_json:
        return web.Response(body=json_format.MessageToJson(message, indent=None).encode(), content_type=JSON)
    return web.Response(body=message.SerializeToString(), content_type=PROTOBUF)


async def handle_export(request: web.Request, deps: Deps, otlp: OtlpIngest, signal: str) -> web.Response:
    as_json = media_type(request.content_type) == JSON
    if media_type(request.content_type) not in (JSON, PROTOBUF):
        return _error(415, _INVALID_ARGUMENT, f"Content-Type {request.content_type!r} is not OTLP: send "
                      f"{PROTOBUF} or {JSON}", as_json)
    if not deps.settings.otlp_tokens:
        return _error(503, _UNAVAILABLE, "OTLP ingestion is disabled: set TOKENBOT_OTLP_TOKENS", as_json)
    if not token_ok(request, deps.settings.otlp_tokens):
        return _error(401, _UNAUTHENTICATED, "missing or wrong bearer token (OTEL_EXPORTER_OTLP_HEADERS="
                      "\"Authorization=Bearer <token>\")", as_json, {"WWW-Authenticate": 'Bearer realm="tokenbot"'})
    body = await read_capped(request, deps.settings.max_body_bytes)  # inflates gzip / deflate, capped
    if isinstance(body, web.Response):
        reason = orjson.loads(body.body)["error"]  # type: ignore[arg-type]
        if body.status == 413:
            reason += " (lower the exporter's batch size: OTEL_BLRP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE)"
        answer = _error(body.status, _RESOURCE_EXHAUSTED if body.status == 413 else _INVALID_ARGUMENT, reason, as_json)
        if body.status == 413:
            answer.force_close()
        return answer
    try:
        try:
            message = decode_request(signal, body, request.content_type)
        except OtlpBodyError as exc:
            await deps.ingestion.ledger.dead_letter_body(body, str(exc), f"{SOURCE}:{signal}",
                                                         int(deps.clock.now().timestamp()))
            return _error(400, _INVALID_ARGUMENT, str(exc), as_json)
        report = await otlp.ingest(signal, message)
    except DATABASE_UNAVAILABLE as exc:
        log.warning("OTLP %s not stored, database unavailable (%s: %s)", signal, type(exc).__name__, str(exc)[:200])
        return _error(503, _UNAVAILABLE, "database unavailable; nothing was stored: retry", as_json,
                      {"Retry-After": "1"})
    return export_response(signal, report, as_json)


def register(web_app: web.Application, deps: Deps) -> None:
    otlp = OtlpIngest(deps.ingestion, deps.outcomes,
                      tuple(a.strip() for a in deps.settings.otlp_user_attributes if a.strip()))

    def route(signal: str):  # noqa: ANN202
        async def post(request: web.Request) -> web.Response:
            return await handle_export(request, deps, otlp, signal)
        return post

    for signal in SIGNALS:
        web_app.router.add_post(f"/v1/{signal}", route(signal))
