"""Outcome parsing and cost per outcome: pure functions, no database."""
from __future__ import annotations

import pytest

from bot.domain.impact import OutcomeCount, cost_per_outcome_text, impact_of, outcomes_text, window_hours
from bot.domain.outcomes import (GithubPayloadError, github_alias, parse_github, parse_outcome, pr_ref, revert_targets,
                                 sha_ref, signature_ok, title_ref)
from tests.support import github_payloads as gh

NOW_TS = 1_795_100_000  # 2026-11-19


def test_times_outside_reason_are_refused() -> None:
    future = gh.pull_request_closed(1, "octo", merged_at="2030-01-01T00:00:00Z")
    with pytest.raises(GithubPayloadError, match="merged_at"):
        parse_github("pull_request", future, NOW_TS)
    [push] = parse_github("push", gh.push("octo", [("a" * 40, "x")], pushed_at=10**15), NOW_TS).outcomes
    assert push.occurred_at == NOW_TS  # an impossible pushed_at: the time it arrived


def test_signature_matches_githubs_documented_example() -> None:
    # "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_ok(b"It's a Secret to Everybody", b"Hello, World!", header)
    assert not signature_ok(b"It's a Secret to Everybody", b"Hello, World?", header)
    assert not signature_ok(b"another secret", b"Hello, World!", header)
    assert not signature_ok(b"It's a Secret to Everybody", b"Hello, World!", None)
    assert not signature_ok(b"It's a Secret to Everybody", b"Hello, World!", header.replace("sha256=", "sha1="))


def test_revert_wording_github_and_git_use() -> None:
    assert revert_targets("acme/api", 'Revert "Add cache"', "Reverts acme/api#42") == (pr_ref("acme/api", 42),)
    assert revert_targets("acme/api", "Undo", "Reverts #7") == (pr_ref("acme/api", 7),)
    assert revert_targets("acme/api", "Undo", "Reverts other/lib#3") == (pr_ref("other/lib", 3),)
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert revert_targets("acme/api", 'Revert "x"', f"This reverts commit {sha}.") == (sha_ref(sha),)
    assert revert_targets("acme/api", 'Revert "Add  Cache"', "") == (title_ref("acme/api", "add cache"),)
    assert revert_targets("acme/api", "Add cache", "Makes reads faster") == ()


def test_merged_pr_push_and_deploy_as_github_sends_them() -> None:
    [pr] = parse_github("pull_request", gh.pull_request_closed(5, "Octo-Cat"), NOW_TS).outcomes
    assert (pr.kind, pr.user_ref, pr.id) == ("pr_merged", github_alias("octo-cat"), "github:pr:acme/api#5")
    [push] = parse_github("push", gh.push("octo", [("a" * 40, "x"), ("b" * 40, f"This reverts commit {'c' * 40}.")]),
                          NOW_TS).outcomes
    assert push.count == 2 and push.reverts == (sha_ref("c" * 40),) and sha_ref("a" * 40) in push.refs
    [deploy] = parse_github("deployment_status", gh.deployment_status(3, "octo"), NOW_TS).outcomes
    assert deploy.kind == "deploy" and deploy.link == "https://api.acme.example"
    assert parse_github("push", gh.push("octo", [("a" * 40, "x")], ref="refs/tags/v1"), NOW_TS).ignored
    with pytest.raises(GithubPayloadError):
        parse_github("deployment_status", {"deployment_status": {"state": "success"}}, NOW_TS)


def test_generic_outcome_validation() -> None:
    ok = parse_outcome({"type": "ticket_closed", "person": "Ada@X.example", "time": 1_795_000_000}, 1_795_010_000)
    assert not isinstance(ok, str) and ok.user_ref == "ada@x.example" and ok.id.startswith("api:")
    assert parse_outcome({"type": "x", "person": "a", "time": 1_795_000_000, "id": "t-1"}, 1_795_010_000).id == "api:t-1"
    assert "time:" in parse_outcome({"type": "x", "person": "a", "time": "2026-11-18T10:00:00"}, 1_795_010_000)


def test_cost_per_outcome_figures_and_text() -> None:
    i = impact_of(7, 90_000_000, {"pr_merged": OutcomeCount(4, 1), "deploy": OutcomeCount(3), "push": OutcomeCount(9)})
    assert (i.per_pr_micros, i.per_deploy_micros, i.revert_rate) == (22_500_000, 30_000_000, 0.25)
    assert cost_per_outcome_text(i) == ("$90.00 · 4 merged PRs, $22.50 each, 25% reverted (1) · 3 deploys, $30.00 each"
                                        " · 9 commits pushed")
    assert outcomes_text(i) == "4 merged PRs (1 reverted) · 3 deploys · 9 commits pushed"
    none = impact_of(30, 5_000_000, {})
    assert none.per_pr_micros is None and cost_per_outcome_text(none) == "$5.00 · no recorded outcomes"
    assert "&lt;" not in outcomes_text(impact_of(7, 0, {"ticket_closed": OutcomeCount(2)}))
    assert window_hours(1000, 7) == (833, 1000)


def test_org_file_github_logins() -> None:
    from bot.domain.org import OrgFileError, parse_org

    base = ("teams:\n  - {slug: platform}\npeople:\n"
            "  - {email: ada@x.example, team: platform, github: Ada-GH}\n")
    org = parse_org(base)
    assert org.people[0].github_logins == ("ada-gh",) and "github:ada-gh" in org.people[0].aliases
    with pytest.raises(OrgFileError) as exc:
        parse_org(base + "  - {email: bob@x.example, team: platform, github: [bob, ada-gh]}\n")
    assert "GitHub login `ada-gh` belongs to two people (first at line 4)" in str(exc.value)
    with pytest.raises(OrgFileError) as exc:
        parse_org(base.replace("Ada-GH", "'<!here>'"))
    assert "is not a GitHub login" in str(exc.value)
