"""OTLP/HTTP bodies -> plain records: pure, no I/O.

Both encodings end in the same plain Python records (attributes as dicts of plain values, ids as hex, times as
integer nanoseconds), so the mapping (bot.domain.otlp) and the ids it derives are the same whichever encoding a
record came in. Protobuf is decoded by `opentelemetry-proto`'s generated messages. JSON is walked directly after
orjson: protobuf's generic JSON parser took ~0.7 ms per Claude Code record (17x the rest of ingestion), and OTLP/JSON
differs from protobuf's JSON mapping anyway (hex trace and span ids, enums as integers)."""
from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SIGNALS = ("logs", "metrics", "traces")
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CUMULATIVE = 2  # AggregationTemporality


class OtlpBodyError(ValueError):
    """The body cannot be read as an OTLP export request at all (a 400 for the sender)."""


@dataclass(slots=True)
class LogRec:
    time_ns: int
    observed_ns: int
    body: Any
    attrs: dict[str, Any]
    event_name: str = ""


@dataclass(slots=True)
class SpanRec:
    trace_id: str  # hex; "" when missing
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    attrs: dict[str, Any]


@dataclass(slots=True)
class PointRec:
    start_ns: int
    time_ns: int
    value: float
    attrs: dict[str, Any]


@dataclass(slots=True)
class MetricRec:
    name: str
    kind: str  # sum | gauge | histogram | exponential_histogram | summary | "" (no data)
    cumulative: bool
    points: list[PointRec] = field(default_factory=list)


# One export request: per resource, its attributes and its records (LogRec, SpanRec or MetricRec).
Decoded = list[tuple[dict[str, Any], list[Any]]]


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decode_request(signal: str, body: bytes, content_type: str) -> Decoded:
    """An OTLP/HTTP body (protobuf or JSON, already inflated) -> per resource, its attributes and records."""
    if media_type(content_type) == JSON:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise OtlpBodyError(f"body is not an OTLP/JSON {signal} export request: not JSON ({exc})") from None
        try:
            return _JSON_DECODERS[signal](_obj(doc, "the body"))
        except _Shape as exc:
            raise OtlpBodyError(f"body is not an OTLP/JSON {signal} export request: {exc}") from None
    message = {"logs": ExportLogsServiceRequest, "metrics": ExportMetricsServiceRequest,
               "traces": ExportTraceServiceRequest}[signal]()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        raise OtlpBodyError(f"body is not an OTLP/protobuf {signal} export request ({str(exc)[:200]})") from None
    return _PROTO_DECODERS[signal](message)


# ---------------------------------------------------------------------------------------------------- protobuf


def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _pb_attrs(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def _pb_attrs(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in pairs:  # the hot loop of OTLP ingestion: ~20 attributes a Claude Code record, nearly all scalars
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind in _SCALARS else _pb_value(value)
    return out


def _pb_logs(message: Any) -> Decoded:
    out: Decoded = []
    for rl in message.resource_logs:
        records = [LogRec(r.time_unix_nano, r.observed_time_unix_nano,
                          _pb_value(r.body) if r.HasField("body") else None, _pb_attrs(r.attributes),
                          getattr(r, "event_name", ""))
                   for sl in rl.scope_logs for r in sl.log_records]
        out.append((_pb_attrs(rl.resource.attributes), records))
    return out


def _pb_spans(message: Any) -> Decoded:
    out: Decoded = []
    for rs in message.resource_spans:
        spans = [SpanRec(s.trace_id.hex(), s.span_id.hex(), s.name, s.start_time_unix_nano, s.end_time_unix_nano,
                         _pb_attrs(s.attributes))
                 for ss in rs.scope_spans for s in ss.spans]
        out.append((_pb_attrs(rs.resource.attributes), spans))
    return out


def _pb_metrics(message: Any) -> Decoded:
    out: Decoded = []
    for rm in message.resource_metrics:
        metrics = []
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data") or ""
                data = getattr(m, kind) if kind else None
                points = []
                for p in (data.data_points if data is not None else ()):
                    which = p.WhichOneof("value") if kind in ("sum", "gauge") else None
                    value = float(p.as_int if which == "as_int" else p.as_double) if which else math.nan
                    points.append(PointRec(p.start_time_unix_nano, p.time_unix_nano, value, _pb_attrs(p.attributes)))
                cumulative = getattr(data, "aggregation_temporality", 0) == CUMULATIVE
                metrics.append(MetricRec(m.name, kind, cumulative, points))
        out.append((_pb_attrs(rm.resource.attributes), metrics))
    return out


_PROTO_DECODERS = {"logs": _pb_logs, "traces": _pb_spans, "metrics": _pb_metrics}


# ---------------------------------------------------------------------------------------------------- JSON


class _Shape(ValueError):
    """A JSON document that is not the OTLP shape, with where."""


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Shape(f"{where} must be an object, got {type(value).__name__}")
    return value


def _arr(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Shape(f"{where} must be an array, got {type(value).__name__}")
    return value


def _int(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _Shape(f"{where} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _Shape(f"{where} must be an integer (or a decimal string), got {value!r:.40}")


def _hex_id(value: Any, size: int, where: str) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise _Shape(f"{where} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _Shape(f"{where} {value[:40]!r} is not a hex id") from None
    if len(raw) != size:
        raise _Shape(f"{where} must be {size} bytes ({size * 2} hex digits)")
    return raw.hex()


def _json_value(value: Any, where: str) -> Any:
    v = _obj(value, where)
    if not v:
        return None
    if "stringValue" in v:
        return v["stringValue"] if isinstance(v["stringValue"], str) else str(v["stringValue"])
    if "intValue" in v:
        n = _int(v["intValue"], f"{where}.intValue")
        if not -(2**63) <= n < 2**63:
            raise _Shape(f"{where}.intValue is outside the 64-bit range")
        return n
    if "doubleValue" in v:
        d = v["doubleValue"]
        if isinstance(d, str):  # "NaN", "Infinity" in protobuf's JSON
            try:
                d = float(d)
            except ValueError:
                raise _Shape(f"{where}.doubleValue must be a number") from None
        if isinstance(d, bool) or not isinstance(d, (int, float)):
            raise _Shape(f"{where}.doubleValue must be a number")
        return float(d)
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [_json_value(x, f"{where}.arrayValue.values[{i}]")
                for i, x in enumerate(_arr(_obj(v["arrayValue"], where).get("values"), f"{where}.arrayValue"))]
    if "kvlistValue" in v:
        return _json_attrs(_obj(v["kvlistValue"], where).get("values"), f"{where}.kvlistValue.values")
    if "bytesValue" in v:
        try:
            return base64.b64decode(v["bytesValue"], validate=True).hex()
        except (binascii.Error, TypeError, ValueError):
            raise _Shape(f"{where}.bytesValue must be base64") from None
    return None


def _json_attrs(pairs: Any, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, kv in enumerate(_arr(pairs, where)):
        # The hot loop of OTLP/JSON ingestion: a string or an integer value is read at once; anything else (and every
        # error, which then names its path) goes the long way.
        if type(kv) is dict and type(key := kv.get("key")) is str:
            value = kv.get("value")
            if type(value) is dict and len(value) == 1:
                if type(text := value.get("stringValue")) is str:
                    out[key] = text
                    continue
                if type(number := value.get("intValue")) is str and number.isdigit() and len(number) < 19:
                    out[key] = int(number)
                    continue
        kv = _obj(kv, f"{where}[{i}]")
        key = kv.get("key")
        if not isinstance(key, str):
            raise _Shape(f"{where}[{i}].key must be a string")
        out[key] = _json_value(kv.get("value"), f"{where}[{i}].value")
    return out


def _resource(item: dict[str, Any], where: str) -> dict[str, Any]:
    return _json_attrs(_obj(item.get("resource"), f"{where}.resource").get("attributes"), f"{where}.resource.attributes")


def _json_logs(doc: dict[str, Any]) -> Decoded:
    out: Decoded = []
    for i, rl in enumerate(_arr(_get(doc, "resourceLogs", "resource_logs"), "resourceLogs")):
        where = f"resourceLogs[{i}]"
        rl = _obj(rl, where)
        records = []
        for j, sl in enumerate(_arr(_get(rl, "scopeLogs", "scope_logs"), f"{where}.scopeLogs")):
            sw = f"{where}.scopeLogs[{j}]"
            for k, r in enumerate(_arr(_get(_obj(sl, sw), "logRecords", "log_records"), f"{sw}.logRecords")):
                rw = f"{sw}.logRecords[{k}]"
                r = _obj(r, rw)
                body = r.get("body")
                records.append(LogRec(_int(_get(r, "timeUnixNano", "time_unix_nano"), f"{rw}.timeUnixNano"),
                                      _int(_get(r, "observedTimeUnixNano", "observed_time_unix_nano"),
                                           f"{rw}.observedTimeUnixNano"),
                                      _json_value(body, f"{rw}.body") if body is not None else None,
                                      _json_attrs(r.get("attributes"), f"{rw}.attributes"),
                                      str(_get(r, "eventName", "event_name") or "")))
        out.append((_resource(rl, where), records))
    return out


def _json_spans(doc: dict[str, Any]) -> Decoded:
    out: Decoded = []
    for i, rs in enumerate(_arr(_get(doc, "resourceSpans", "resource_spans"), "resourceSpans")):
        where = f"resourceSpans[{i}]"
        rs = _obj(rs, where)
        spans = []
        for j, ss in enumerate(_arr(_get(rs, "scopeSpans", "scope_spans"), f"{where}.scopeSpans")):
            sw = f"{where}.scopeSpans[{j}]"
            for k, s in enumerate(_arr(_obj(ss, sw).get("spans"), f"{sw}.spans")):
                pw = f"{sw}.spans[{k}]"
                s = _obj(s, pw)
                spans.append(SpanRec(_hex_id(_get(s, "traceId", "trace_id"), 16, f"{pw}.traceId"),
                                     _hex_id(_get(s, "spanId", "span_id"), 8, f"{pw}.spanId"),
                                     str(s.get("name") or ""),
                                     _int(_get(s, "startTimeUnixNano", "start_time_unix_nano"), f"{pw}.startTimeUnixNano"),
                                     _int(_get(s, "endTimeUnixNano", "end_time_unix_nano"), f"{pw}.endTimeUnixNano"),
                                     _json_attrs(s.get("attributes"), f"{pw}.attributes")))
        out.append((_resource(rs, where), spans))
    return out


_KINDS = (("sum", "sum"), ("gauge", "gauge"), ("histogram", "histogram"),
          ("exponentialHistogram", "exponential_histogram"), ("summary", "summary"))


def _temporality(value: Any, where: str) -> int:
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        return {"AGGREGATION_TEMPORALITY_DELTA": 1, "AGGREGATION_TEMPORALITY_CUMULATIVE": 2}.get(value, 0)
    return _int(value, where)


def _json_metrics(doc: dict[str, Any]) -> Decoded:
    out: Decoded = []
    for i, rm in enumerate(_arr(_get(doc, "resourceMetrics", "resource_metrics"), "resourceMetrics")):
        where = f"resourceMetrics[{i}]"
        rm = _obj(rm, where)
        metrics = []
        for j, sm in enumerate(_arr(_get(rm, "scopeMetrics", "scope_metrics"), f"{where}.scopeMetrics")):
            sw = f"{where}.scopeMetrics[{j}]"
            for k, m in enumerate(_arr(_obj(sm, sw).get("metrics"), f"{sw}.metrics")):
                mw = f"{sw}.metrics[{k}]"
                m = _obj(m, mw)
                kind, data = "", {}
                for camel, snake in _KINDS:
                    if _get(m, camel, snake) is not None:
                        kind, data = snake, _obj(_get(m, camel, snake), f"{mw}.{camel}")
                        break
                points = []
                for n, p in enumerate(_arr(_get(data, "dataPoints", "data_points"), f"{mw}.{kind}.dataPoints")):
                    pw = f"{mw}.{kind}.dataPoints[{n}]"
                    p = _obj(p, pw)
                    value = math.nan
                    if kind in ("sum", "gauge"):
                        if _get(p, "asInt", "as_int") is not None:
                            value = float(_int(_get(p, "asInt", "as_int"), f"{pw}.asInt"))
                        elif _get(p, "asDouble", "as_double") is not None:
                            d = _get(p, "asDouble", "as_double")
                            value = float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else math.nan
                    points.append(PointRec(_int(_get(p, "startTimeUnixNano", "start_time_unix_nano"), f"{pw}.startTimeUnixNano"),
                                           _int(_get(p, "timeUnixNano", "time_unix_nano"), f"{pw}.timeUnixNano"),
                                           value, _json_attrs(p.get("attributes"), f"{pw}.attributes")))
                cumulative = _temporality(_get(data, "aggregationTemporality", "aggregation_temporality"),
                                          f"{mw}.{kind}.aggregationTemporality") == CUMULATIVE
                metrics.append(MetricRec(str(m.get("name") or ""), kind, cumulative, points))
        out.append((_resource(rm, where), metrics))
    return out


_JSON_DECODERS = {"logs": _json_logs, "traces": _json_spans, "metrics": _json_metrics}

__all__ = ["decode_request", "media_type", "OtlpBodyError", "LogRec", "SpanRec", "PointRec", "MetricRec", "Decoded",
           "SIGNALS", "PROTOBUF", "JSON"]
