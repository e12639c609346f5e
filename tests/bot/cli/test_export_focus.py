"""`tokenbot export focus`: a month's spend per team, person and model in FOCUS columns, from usage sent over HTTP,
checked against the specification's required columns and the ledger's totals, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bot.domain.focus import REQUIRED

OCT = int(datetime(2026, 10, 10, 12, tzinfo=UTC).timestamp())


def export(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    env |= {"TOKENBOT_DATABASE_URL": database_url,
            "PYTHONPATH": str(Path(__file__).resolve().parents[3]) + os.pathsep + env.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "bot.cli", "export", "focus", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


async def test_focus_rows_have_the_required_columns_and_add_up_to_the_ledger(bot, database_url, tmp_path) -> None:  # noqa: ANN001
    events = [
        {"id": "f1", "timestamp": OCT, "user": "ada", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100,
         "cost_usd": 1.25},
        {"id": "f2", "timestamp": OCT + 3600, "user": "ada", "model": "gpt-4o", "input_tokens": 500, "output_tokens": 50,
         "cost_usd": 0.000001},
        {"id": "f3", "timestamp": OCT, "user": "grace", "model": "claude-sonnet-4-5", "input_tokens": 2000,
         "output_tokens": 10, "cost_usd": 3.5},
        {"id": "f4", "timestamp": OCT, "user": "stranger@else.example", "model": "in-house-llm", "input_tokens": 7,
         "output_tokens": 3, "cost_usd": 0.1},
        {"id": "nov", "timestamp": OCT + 40 * 86400, "user": "ada", "model": "gpt-4o", "input_tokens": 1,
         "output_tokens": 1, "cost_usd": 99.0},  # November: not in October's file
    ]
    assert (await bot.ingest(events))[0] == 200
    out = tmp_path / "oct.csv"
    result = export(database_url, tmp_path, "--month", "2026-10", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "FOCUS 1.2: 3 rows for 2026-10" in result.stderr
    assert "billed $4.85, equal to the ledger's $4.85" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    for row in rows:
        for column in REQUIRED:
            assert row[column], (column, row)
        assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
        assert row["BillingCurrency"] == "USD" and row["ChargeCategory"] == "Usage"
        assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"]
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("4.850001")  # exact to the micro-dollar
    ada = next(r for r in rows if r["x_Person"] == "ada@test.example")
    assert (ada["ProviderName"], ada["SubAccountId"], ada["ResourceId"], ada["ConsumedQuantity"], ada["x_Requests"]) == (
        "OpenAI", "platform", "gpt-4o", "1650", "2")
    assert json.loads(ada["Tags"]) == {"person": "ada@test.example", "team": "platform"}
    stranger = next(r for r in rows if r["x_Person"] == "unclaimed")
    assert (stranger["ProviderName"], stranger["SubAccountId"]) == ("Unknown", "no-team")


async def test_a_bad_month_is_one_clear_line(bot, database_url, tmp_path) -> None:  # noqa: ANN001
    result = export(database_url, tmp_path, "--month", "October")
    assert result.returncode == 2 and result.stderr.strip() == "--month 'October': expected a month like 2026-10"
