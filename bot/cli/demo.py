"""`tokenbot demo`: a demo org and a month of synthetic usage in a separate database, so a newcomer sees real
answers at once. Usage goes through the same validation and ledger as the HTTP endpoint."""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from importlib import resources

from bot.domain.org import parse_org

DEMO_MODELS = [("gpt-4o", "openai", 0.35), ("gpt-4o-mini", "openai", 0.3), ("claude-sonnet-4-5", "anthropic", 0.25),
               ("claude-haiku-4-5", "anthropic", 0.08), ("llama-3-70b-inhouse", None, 0.02)]


def demo_org_text() -> str:
    return resources.files("bot.cli").joinpath("demo_org.yml").read_text(encoding="utf-8")


def demo_events(now: datetime, days: int = 30, seed: int = 7) -> list[dict[str, object]]:
    """Business-hours usage for every demo person over `days` days up to `now`; one heavy user, one runaway day."""
    rng = random.Random(seed)
    org = parse_org(demo_org_text(), "demo org")
    models = [m for m, _, _ in DEMO_MODELS]
    weights = [w for _, _, w in DEMO_MODELS]
    providers = {m: p for m, p, _ in DEMO_MODELS}
    events: list[dict[str, object]] = []
    start = now - timedelta(days=days)
    for n, person in enumerate(org.people):
        user = person.gateway_ids[0] if person.gateway_ids else person.email
        intensity = 3.0 if n == 0 else rng.uniform(0.3, 1.5)
        t = start
        i = 0
        while t < now:
            local_hour = t.hour
            busy = 8 <= local_hour <= 18 and t.weekday() < 5
            rate = intensity * (6 if busy else 0.3)
            if n == 1 and now - t < timedelta(days=2) and busy:
                rate *= 8  # a runaway agent, for the spike and budget warnings
            for _ in range(int(rng.expovariate(1 / rate)) if rate > 0 else 0):
                model = rng.choices(models, weights)[0]
                inp = int(rng.lognormvariate(7.5, 1.0))
                events.append({
                    "id": f"demo-{n}-{i}", "timestamp": int((t + timedelta(seconds=rng.randrange(3600))).timestamp()),
                    "user": user, "model": model, "provider": providers[model], "input_tokens": inp,
                    "output_tokens": int(inp * rng.uniform(0.05, 0.4)), "cached_input_tokens": int(inp * rng.uniform(0, 0.5)),
                })
                i += 1
            t += timedelta(hours=1)
    return [e for e in events if int(e["timestamp"]) <= int(now.timestamp())]  # type: ignore[arg-type]
