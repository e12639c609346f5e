from bot.domain.usage_events import BodyError, Rejection, parse_event, parse_events, parse_timestamp, split_body

NOW = 1_763_500_000


def test_timestamps_rfc3339_and_epoch() -> None:
    assert parse_timestamp("2025-11-18T21:06:40Z", NOW) == 1_763_500_000
    assert parse_timestamp("2025-11-18T22:06:40+01:00", NOW) == 1_763_500_000
    assert parse_timestamp(1_763_500_000, NOW) == 1_763_500_000
    assert parse_timestamp(1_763_500_000.9, NOW) == 1_763_500_000
    assert "UTC offset" in parse_timestamp("2025-11-18T21:06:40", NOW)
    assert "milliseconds" in parse_timestamp(1_763_500_000_000, NOW)
    assert "future" in parse_timestamp(NOW + 2 * 86400, NOW)
    assert "2000" in parse_timestamp(0, NOW)
    assert "required" in parse_timestamp(None, NOW)


def test_event_normalised() -> None:
    e = parse_event({"id": 42, "timestamp": NOW, "user": " Ada@X.io ", "model": "gpt-4o", "provider": "OpenAI",
                     "input_tokens": 10.0, "output_tokens": 2, "team": "Platform"}, NOW)
    assert (e.id, e.user, e.provider, e.team, e.input_tokens, e.cached_input_tokens) == ("42", "ada@x.io", "openai", "platform", 10, 0)


def test_in_batch_duplicates_are_dropped_once() -> None:
    item = {"id": "a", "timestamp": NOW, "user": "u", "model": "m", "input_tokens": 1, "output_tokens": 1}
    events, rejections = parse_events([item, dict(item), item | {"id": "b"}], NOW)
    assert [e.id for e in events] == ["a", "b"] and rejections == []


def test_body_shapes() -> None:
    assert split_body(b'[{"a":1}]') == [{"a": 1}]
    assert split_body(b'{"a":1}') == [{"a": 1}]
    items = split_body(b'{"a":1}\n\n{"b":2}\nnope\n')
    assert items[:2] == [{"a": 1}, {"b": 2}] and isinstance(items[2], Rejection)
    for bad in (b"", b"   ", b"nope", b"[1, 2"):
        try:
            split_body(bad)
        except BodyError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def _valid(**over: object) -> dict:
    return {"id": "e1", "timestamp": NOW, "user": "ada", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1,
            "cost_usd": 0.5} | over


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_text_fields_without_nul_or_lone_surrogates() -> None:
    for field in ("id", "user", "team", "model", "provider"):
        assert parse_event(_valid(**{field: "a\x00b"}), NOW) == f"{field}: contains a NUL character"
        assert "lone surrogate" in parse_event(_valid(**{field: "a\ud800"}), NOW)


def test_cost_ceiling_and_64_bit_bounds() -> None:
    assert "per-event ceiling of $10,000.00" in parse_event(_valid(cost_usd=9.3e12), NOW)
    assert "per-event ceiling of $50.00" in parse_event(_valid(cost_usd=50.01), NOW, max_cost_usd=50)
    assert parse_event(_valid(cost_usd=50), NOW, max_cost_usd=50).cost_usd == 50.0
    assert "implausibly large" in parse_event(_valid(input_tokens=2**64), NOW)
    assert "out of range" in parse_timestamp(1e300, NOW)
    assert "metadata: a whole number outside the signed 64-bit range" == parse_event(_valid(metadata={"n": 2**63}), NOW)


def test_far_future_is_not_called_milliseconds() -> None:
    assert parse_timestamp(32_503_680_000, NOW) == "timestamp: more than a day in the future"  # year 3000
    assert parse_timestamp(10**15, NOW) == "timestamp: more than a day in the future"
    assert "milliseconds" in parse_timestamp(NOW * 1000, NOW)


def test_metadata_depth_and_size_caps() -> None:
    assert parse_event(_valid(metadata=_nested(16)), NOW).metadata == _nested(16)
    assert parse_event(_valid(metadata=_nested(17)), NOW) == "metadata: nested deeper than 16 levels"
    assert parse_event(_valid(metadata=_nested(900)), NOW) == "metadata: nested deeper than 16 levels"
    assert "larger than 8192 bytes" in parse_event(_valid(metadata={"x": "y" * 9000}), NOW)
    assert "NUL" in parse_event(_valid(metadata={"x": ["\x00"]}), NOW)


def test_dead_letter_text_never_fails() -> None:
    from bot.domain.usage_events import dead_letter_text

    deep: list = []
    inner = deep
    for _ in range(1000):
        inner.append([])
        inner = inner[0]
    text = dead_letter_text({"deep": deep, "big": 10**30, "nul": "a\x00b"})
    assert "nested deeper" in text and "\x00" not in text and "1000000000000000000000000000000" in text
    assert len(dead_letter_text("x" * 200_000)) == 65536


def test_requests_default_to_one_and_take_a_providers_count() -> None:
    base = {"id": "b1", "timestamp": NOW - 60, "user": "ada", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 2}
    assert parse_event(base, NOW).requests == 1
    assert parse_event(base | {"requests": 3795}, NOW).requests == 3795
    assert parse_event(base | {"requests": 0}, NOW).requests == 0
    assert parse_event(base | {"requests": -1}, NOW) == "requests: cannot be negative"
    assert parse_event(base | {"requests": "many"}, NOW) == "requests: must be a whole number >= 0, got a string"
