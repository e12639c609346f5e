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


def test_requests_default_to_one_and_take_a_providers_count() -> None:
    base = {"id": "b1", "timestamp": NOW - 60, "user": "ada", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 2}
    assert parse_event(base, NOW).requests == 1
    assert parse_event(base | {"requests": 3795}, NOW).requests == 3795
    assert parse_event(base | {"requests": 0}, NOW).requests == 0
    assert parse_event(base | {"requests": -1}, NOW) == "requests: cannot be negative"
    assert parse_event(base | {"requests": "many"}, NOW) == "requests: must be a whole number >= 0, got a string"
