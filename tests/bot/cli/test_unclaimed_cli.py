"""`tokenbot usage unclaimed` as a real process, on the test database (SQLite, or PostgreSQL when configured)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.bot.cli.test_cli import run
from tests.conftest import ORG_YAML

OCT_5 = 1_759_622_400  # 2025-10-05 00:00 UTC: a closed month, whatever the test machine's date


def usage(n: int, user: str, hours: int, cost_usd: float | None, model: str = "gpt-4o") -> dict:
    item = {"id": f"u{n}", "timestamp": OCT_5 + hours * 3600, "user": user, "model": model,
            "input_tokens": 100, "output_tokens": 10}
    return item if cost_usd is None else item | {"cost_usd": cost_usd}


async def test_usage_unclaimed_prints_totals_ids_and_the_hint(tmp_path: Path, database_url: str) -> None:
    db = {"TOKENBOT_DATABASE_URL": database_url}
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    assert run(tmp_path, "org", "sync", str(org), env=db).returncode == 0
    items = [usage(1, "ada", 1, 50.0),                                  # claimed by Ada
             usage(2, "key:88dca5", 2, 7.25), usage(3, "key:88dca5", 30, 2.75),
             usage(4, "default-team-key", 3, 4.5),
             usage(5, "svc-batch", 4, None, model="no-such-model-xyz"),  # unpriced
             {**usage(6, "key:88dca5", 0, 99.0), "timestamp": OCT_5 - 5 * 86400}]  # September
    (tmp_path / "usage.json").write_text(json.dumps(items))
    imported = run(tmp_path, "usage", "import", str(tmp_path / "usage.json"), env=db)
    assert "6 accepted" in imported.stdout, imported.stdout + imported.stderr

    result = run(tmp_path, "usage", "unclaimed", "--month", "2025-10", env=db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("Unclaimed spend in 2025-10: $14.50 in 4 requests (1 with no known price, counted at $0)")
    assert lines[1].split() == ["$10.00", "2", "requests", "last", "seen", "2025-10-06", "06:00", "UTC", "key:88dca5"]
    assert lines[2].split() == ["$4.50", "1", "request", "last", "seen", "2025-10-05", "03:00", "UTC", "default-team-key"]
    assert lines[3].split() == ["$0.00", "1", "request", "last", "seen", "2025-10-05", "04:00", "UTC", "svc-batch"]
    assert "gateway_ids" in lines[4] and "key:<hash>" in lines[4] and "OpenAI `user` field" in lines[4]

    top1 = run(tmp_path, "usage", "unclaimed", "--month", "2025-10", "--top", "1", env=db).stdout.splitlines()
    assert top1[1].split()[-1] == "key:88dca5"
    assert top1[2].split() == ["$4.50", "2", "requests", "of", "other", "ids", "(see", "--top)"]

    september = run(tmp_path, "usage", "unclaimed", "--month", "2025-09", env=db)
    assert september.stdout.splitlines()[0].startswith("Unclaimed spend in 2025-09: $99.00 in 1 request")
    nothing = run(tmp_path, "usage", "unclaimed", "--month", "2025-08", env=db)
    assert nothing.returncode == 0
    assert nothing.stdout.strip() == "No unclaimed spend in 2025-08: every request belongs to a person in the org file."
    this_month = run(tmp_path, "usage", "unclaimed", env=db)
    assert this_month.returncode == 0 and this_month.stdout.startswith("No unclaimed spend in ")
    assert "(to " in this_month.stdout  # the current month is month to date
    assert run(tmp_path, "usage", "unclaimed", "--month", "October", env=db).returncode == 2
