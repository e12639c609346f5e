"""`tokenbot usage import` of a LiteLLM_SpendLogs CSV export, run as a real process against a real SQLite file."""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from bot.cli.usage_files import is_litellm_spend_logs_csv
from tests.bot.cli.test_cli import run
from tests.conftest import ORG_YAML
from tests.support.litellm_payloads import spend_log_row, standard_payload

COLUMNS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
           "startTime", "endTime", "completionStartTime", "model", "model_id", "model_group", "custom_llm_provider",
           "api_base", "user", "metadata", "cache_hit", "cache_key", "request_tags", "team_id", "end_user",
           "requester_ip_address", "messages", "response", "session_id", "status", "proxy_server_request"]


def export_csv(rows: list[dict]) -> str:
    """As `\\copy "LiteLLM_SpendLogs" TO … CSV HEADER` writes it: JSON columns as text, timestamps without a zone."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        cells = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items() if k in COLUMNS}
        for k in ("startTime", "endTime", "completionStartTime"):
            cells[k] = cells[k].replace("T", " ").removesuffix("Z")
        writer.writerow(cells)
    return out.getvalue()


def test_spend_logs_csv_is_detected_by_its_header() -> None:
    assert is_litellm_spend_logs_csv(",".join(COLUMNS) + "\n")
    assert not is_litellm_spend_logs_csv("id,timestamp,user,model,input_tokens,output_tokens\n")


def test_import_spend_logs_csv_through_the_litellm_mapper(tmp_path: Path) -> None:
    org = tmp_path / "org.yml"
    org.write_text(ORG_YAML)
    assert run(tmp_path, "org", "sync", str(org)).returncode == 0
    start = time.time() - 3600
    rows = [spend_log_row(standard_payload(i, start + i)) for i in range(5)]
    rows.append(spend_log_row(standard_payload(9, start, status="failure")))
    broken = spend_log_row(standard_payload(10, start))
    broken["request_id"] = ""
    rows.append(broken)
    path = tmp_path / "LiteLLM_SpendLogs.csv"
    path.write_text(export_csv(rows))

    first = run(tmp_path, "usage", "import", str(path))
    assert "6 accepted, 0 duplicates, 1 rejected" in first.stdout, first.stdout + first.stderr
    assert "item 6: id: required" in first.stdout
    again = run(tmp_path, "usage", "import", str(path))
    assert "0 accepted, 6 duplicates, 1 rejected" in again.stdout
    shown = run(tmp_path, "usage", "show", "--user", "ada")
    assert shown.returncode == 0 and "$0.02" in shown.stdout, shown.stdout  # 5 x $0.0041
