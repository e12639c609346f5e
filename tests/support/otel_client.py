"""A real OpenTelemetry client for tests and benches: the Python SDK with its OTLP/HTTP exporters, protobuf
(`opentelemetry-exporter-otlp-proto-http`) or JSON (`opentelemetry-exporter-otlp-json-http`), sending what Claude
Code and GenAI-instrumented apps send. Nothing here builds an OTLP body by hand.

Shapes:
- Claude Code: code.claude.com/docs/en/monitoring-usage ("Events" -> "API Request Event": body/event name
  `claude_code.api_request`, `event.name: api_request`, `model`, `cost_usd`, `duration_ms`, `input_tokens`,
  `output_tokens`, `cache_read_tokens`, `cache_creation_tokens`; "Standard Attributes": `session.id`,
  `user.account_uuid`, `user.email`, `organization.id`, `terminal.type`, `app.version`; "Metrics":
  `claude_code.pull_request.count`, `claude_code.commit.count` (counters, unit count); resource `service.name:
  claude-code`; delta temporality by default, cumulative with
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative).
- GenAI: opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/ (span `chat {model}`, `gen_ai.operation.name`,
  `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens`,
  `gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`).

The exporters are synchronous (they block on HTTP): call these from a thread (`asyncio.to_thread`) when the bot runs
on the caller's event loop."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

CLAUDE_CODE_RESOURCE = {"service.name": "claude-code", "service.version": "2.0.31", "os.type": "linux",
                        "host.arch": "x64"}
EVENTS_SCOPE = "com.anthropic.claude_code.events"
METRICS_SCOPE = "com.anthropic.claude_code"


def exporters(encoding: str):  # noqa: ANN201 - the three exporter classes of an encoding
    if encoding == "json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
        return OTLPLogExporter, OTLPMetricExporter, OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPLogExporter, OTLPMetricExporter, OTLPSpanExporter


def compression(encoding: str, gzip: bool):  # noqa: ANN201 - each exporter family has its own enum
    if encoding == "json":
        from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
        return JsonCompression.GZIP if gzip else JsonCompression.NONE
    from opentelemetry.exporter.otlp.proto.http import Compression
    return Compression.Gzip if gzip else Compression.NoCompression


@dataclass
class ApiRequest:
    """One Claude Code API request, as its `claude_code.api_request` event describes it."""

    ts_ns: int
    model: str = "claude-sonnet-4-5-20250929"
    input_tokens: int = 1200
    output_tokens: int = 300
    cache_read_tokens: int = 5000
    cache_creation_tokens: int = 0
    cost_usd: float = 0.0123
    sequence: int = 0

    def attributes(self, user: dict[str, str], session_id: str) -> dict[str, Any]:
        return {"session.id": session_id, "organization.id": "1f6c0a9e-org", "terminal.type": "vscode",
                "app.version": "2.0.31", **user, "event.name": "api_request", "event.sequence": self.sequence,
                "event.timestamp": _iso(self.ts_ns), "model": self.model, "cost_usd": self.cost_usd,
                "duration_ms": 2345, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_read_tokens": self.cache_read_tokens, "cache_creation_tokens": self.cache_creation_tokens}


def _iso(ns: int) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ClaudeCode:
    """One Claude Code process: its logger and meter providers, exporting to `url` over OTLP/HTTP. A new instance
    is a restarted process (new cumulative counters, new start time)."""

    url: str
    token: str
    encoding: str = "protobuf"
    user: dict[str, str] = field(default_factory=lambda: {"user.email": "ada@test.example",
                                                          "user.account_uuid": "acc-ada-0001"})
    session_id: str = "sess-0001"
    temporality: str = "delta"
    gzip: bool = False
    max_batch: int = 512

    def __post_init__(self) -> None:
        log_exporter, metric_exporter, _ = exporters(self.encoding)
        headers = {"Authorization": f"Bearer {self.token}"}
        resource = Resource.create(CLAUDE_CODE_RESOURCE)
        self.log_exporter = log_exporter(endpoint=f"{self.url}/v1/logs", headers=headers, timeout=30,
                                         compression=compression(self.encoding, self.gzip))
        self.logs = LoggerProvider(resource=resource)
        self.logs.add_log_record_processor(BatchLogRecordProcessor(
            self.log_exporter, schedule_delay_millis=60_000, max_export_batch_size=self.max_batch,
            max_queue_size=max(2048, self.max_batch * 4)))
        self.logger = self.logs.get_logger(EVENTS_SCOPE, "2.0.31")
        temporality = (AggregationTemporality.CUMULATIVE if self.temporality == "cumulative"
                       else AggregationTemporality.DELTA)
        self.metric_exporter = metric_exporter(endpoint=f"{self.url}/v1/metrics", headers=headers, timeout=30,
                                               compression=compression(self.encoding, self.gzip),
                                               preferred_temporality={Counter: temporality})
        self.reader = PeriodicExportingMetricReader(self.metric_exporter, export_interval_millis=3_600_000)
        self.meters = MeterProvider(resource=resource, metric_readers=[self.reader])
        meter = self.meters.get_meter(METRICS_SCOPE, "2.0.31")
        self.pull_requests = meter.create_counter("claude_code.pull_request.count", unit="count",
                                                  description="Number of pull requests created")
        self.commits = meter.create_counter("claude_code.commit.count", unit="count",
                                            description="Number of git commits created")

    def api_requests(self, requests: Sequence[ApiRequest]) -> None:
        """Emit the requests' events and export them (in batches of `max_batch`, as the SDK does)."""
        for r in requests:
            self.logger.emit(LogRecord(timestamp=r.ts_ns, observed_timestamp=r.ts_ns, body="claude_code.api_request",
                                       event_name="claude_code.api_request",
                                       attributes=r.attributes(self.user, self.session_id)))
        assert self.logs.force_flush(60_000)

    def outcomes(self, pull_requests: int = 0, commits: int = 0) -> None:
        attrs = {"session.id": self.session_id, "organization.id": "1f6c0a9e-org", **self.user}
        if pull_requests:
            self.pull_requests.add(pull_requests, attrs)
        if commits:
            self.commits.add(commits, attrs)
        assert self.reader.force_flush(60_000)

    def shutdown(self) -> None:
        self.logs.shutdown()
        self.meters.shutdown()


@dataclass
class GenAiApp:
    """An app instrumented with the GenAI semantic conventions: one `chat` span per model call."""

    url: str
    token: str
    encoding: str = "protobuf"
    service: str = "support-bot"
    resource_attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _, _, span_exporter = exporters(self.encoding)
        self.exporter = span_exporter(endpoint=f"{self.url}/v1/traces", headers={"Authorization": f"Bearer {self.token}"},
                                      timeout=30)
        self.provider = TracerProvider(resource=Resource.create({"service.name": self.service,
                                                                 **self.resource_attributes}))
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, schedule_delay_millis=60_000))
        self.tracer = self.provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0")

    def chat(self, start_ns: int, model: str = "gpt-4o", provider: str = "openai", input_tokens: int = 1000,
             output_tokens: int = 200, cache_read: int = 0, user: str | None = None,
             provider_attribute: str = "gen_ai.provider.name") -> None:
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", provider_attribute: provider,
                                 "gen_ai.request.model": model, "gen_ai.response.model": model,
                                 "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
                                 "gen_ai.response.id": f"chatcmpl-{start_ns}"}
        if cache_read:
            attrs["gen_ai.usage.cache_read.input_tokens"] = cache_read
        if user is not None:
            attrs["user.id"] = user
        span = self.tracer.start_span(f"chat {model}", start_time=start_ns, attributes=attrs)
        span.end(end_time=start_ns + 1_500_000_000)

    def plain_span(self, start_ns: int) -> None:
        span = self.tracer.start_span("GET /health", start_time=start_ns)
        span.end(end_time=start_ns + 1_000_000)

    def flush(self) -> None:
        assert self.provider.force_flush(60_000)

    def shutdown(self) -> None:
        self.provider.shutdown()


__all__ = ["ClaudeCode", "ApiRequest", "GenAiApp", "CLAUDE_CODE_RESOURCE"]
