from pathlib import Path

import pytest

from bot.domain.org import OrgFileError, parse_org

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "org.example.yml"


def test_example_org_file_parses() -> None:
    org = parse_org(EXAMPLE.read_text())
    assert [t.slug for t in org.teams] == ["platform", "research"]
    platform = org.teams[0]
    assert (platform.timezone, platform.digest_time, platform.monthly_budget_usd) == ("Europe/Berlin", "09:00", 5000.0)
    assert org.people[0].gateway_ids == ("ada", "sk-ada-laptop")
    assert org.people[1].slack_id is None


def test_every_mistake_is_reported_with_its_line() -> None:
    text = """teams:
  - slug: a
    timezone: Mars/Olympus
  - slug: b
  - slug: b
people:
  - email: x@y.com
    team: nope
  - email: z@y.com
    team: b
  - email: Z@y.com
    team: b
  - email: not-an-email
"""
    with pytest.raises(OrgFileError) as err:
        parse_org(text, "org.yml")
    assert err.value.problems == [
        "org.yml:3: team `a`: unknown timezone 'Mars/Olympus' (use an IANA name like Europe/Berlin)",
        "org.yml:5: team `b` is defined twice (first at line 4)",
        "org.yml:7: person x@y.com: unknown team `nope`",
        "org.yml:11: duplicate person z@y.com (first at line 9)",
        "org.yml:13: person: email 'not-an-email' is missing or not an email address",
    ]


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(OrgFileError) as err:
        parse_org("teams:\n  - slug: a\n   bad: [\n", "org.yml")
    assert err.value.problems[0].startswith("org.yml:")
    assert "not valid YAML" in err.value.problems[0]


def test_unquoted_digest_time_is_read_as_a_time() -> None:
    org = parse_org("teams:\n  - slug: a\n    digest_time: 08:30\n")
    assert org.teams[0].digest_time == "08:30"


def test_gateway_id_shared_by_two_people_is_refused() -> None:
    text = "people:\n  - {email: a@x.io, gateway_ids: [bot]}\n  - {email: b@x.io, gateway_ids: [BOT]}\n"
    with pytest.raises(OrgFileError) as err:
        parse_org(text, "f")
    assert err.value.problems == ["f:3: gateway id `bot` belongs to two people (first at line 2)"]


def test_source_precedence_and_account_ids() -> None:
    from bot.domain.org import authoritative_source

    org = parse_org(EXAMPLE.read_text())
    assert "3f9c2a71-5d0e-4b8a-9e61-0c7d2f4b8a10" in org.people[1].gateway_ids  # account ids are aliases too
    rules = org.sources
    assert authoritative_source(rules, "ada@example.com", "platform", "anthropic") == "litellm"
    assert authoritative_source(rules, "ada@example.com", "platform", "openai") is None  # no rule: every source counts
    assert authoritative_source(rules, "grace@example.com", "research", "anthropic") == "otlp"
    text = """teams:
  - slug: a
people:
  - {email: x@y.com, team: a}
sources:
  - {authoritative: litellm, teams: [nope]}
  - {authoritative: otlp, people: [who@y.com]}
  - {providers: [anthropic]}
"""
    with pytest.raises(OrgFileError) as err:
        parse_org(text, "org.yml")
    assert err.value.problems == [
        "org.yml:6: sources: unknown team `nope`",
        "org.yml:7: sources: who@y.com is not a person of this org file",
        "org.yml:8: sources: authoritative must name a source (litellm, otlp, api), got None",
    ]
