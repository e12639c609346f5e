"""ReportStore, the two-statement read behind `/tokens me`, on the real database: the same figures as the ledger's
own window sums and the budget store's raises, for a person with and without a team."""
from __future__ import annotations

from sqlalchemy import event, insert

from bot.domain.summary import windows
from storage.stores.budgets import BudgetStore
from storage.stores.reports import ReportStore
from storage.tables.requests import budget_adjustments
from tests.conftest import NOW


async def _seed(bot) -> None:  # noqa: ANN001
    now = int(NOW.timestamp())
    events = [{"id": f"r{i}", "timestamp": now - i * 7_200, "user": user, "model": model, "input_tokens": 1_000 + i,
               "output_tokens": 10 * i, "cost_usd": 0.5 + i / 100}
              for i, (user, model) in enumerate([("ada", "gpt-4o"), ("alan", "gpt-4o"), ("ada", "claude-haiku-4-5"),
                                                 ("grace", "gpt-4o")] * 60)]
    events.append({"id": "unpriced", "timestamp": now - 60, "user": "ada", "model": "mystery-model",
                   "input_tokens": 5, "output_tokens": 5})
    assert (await bot.ingest(events))[0] == 200
    team = await bot.deps.org.team_by_slug("platform")
    ada = await bot.deps.org.person_by_email("ada@test.example")
    month = f"{NOW:%Y-%m}"
    async with bot.deps.engine.begin() as conn:
        for scope, subject, amount, m in [("person", ada.id, 7_000_000, month), ("person", ada.id, 1_000_000, None),
                                          ("person", ada.id, 99_000_000, "2020-01"), ("team", team.id, 5_000_000, month)]:
            await conn.execute(insert(budget_adjustments).values(scope=scope, subject_id=subject, amount_micros=amount,
                                                                 month=m, approved_by="U0BOSS", created_at=0))


async def test_me_figures_equal_the_ledger_and_budget_store(bot) -> None:  # noqa: ANN001
    await _seed(bot)
    asked = await ReportStore(bot.deps.engine).asker("U0ADA")
    assert asked is not None
    ada, team = asked
    assert (ada.email, team.slug, team.timezone, team.monthly_budget_micros) == (
        "ada@test.example", "platform", "Europe/Berlin", 1_000_000_000)
    w = windows(NOW, team.timezone)
    month = f"{w.now_local:%Y-%m}"
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(bot.deps.engine.sync_engine, "before_cursor_execute", listen)
    try:
        figures = await ReportStore(bot.deps.engine).me_figures(ada.id, team.id, w.starts, w.now_hour, month)
    finally:
        event.remove(bot.deps.engine.sync_engine, "before_cursor_execute", listen)
    assert len(statements) == 1
    assert figures.person == await bot.deps.ledger.window_totals("person", ada.id, w.starts, w.now_hour)
    assert figures.team == await bot.deps.ledger.window_totals("team", team.id, w.starts, w.now_hour)
    assert figures.person["mystery-model"][0] == (0, 10, 1, 1)  # unpriced: counted, at $0
    budgets = BudgetStore(bot.deps.engine)
    assert figures.person_raised == await budgets.raised("person", ada.id, month) == 8_000_000  # not 2020's
    assert figures.team_raised == await budgets.raised("team", team.id, month) == 5_000_000


async def test_a_person_without_a_team_and_an_unknown_asker(bot) -> None:  # noqa: ANN001
    from bot.domain.org import parse_org
    from tests.conftest import ORG_YAML

    await bot.deps.org.sync(parse_org(ORG_YAML + "  - {email: solo@test.example, slack_id: U0SOLO}\n"), 0)
    solo, team = await ReportStore(bot.deps.engine).asker("U0SOLO")
    assert solo.email == "solo@test.example" and team is None
    w = windows(NOW, "UTC")
    figures = await ReportStore(bot.deps.engine).me_figures(solo.id, None, w.starts, w.now_hour, "2026-11")
    assert (figures.person, figures.team, figures.person_raised, figures.team_raised) == ({}, {}, 0, 0)
    assert await ReportStore(bot.deps.engine).asker("U0NOBODY") is None


async def test_me_reads_who_and_what_in_two_statements_on_one_connection(bot) -> None:  # noqa: ANN001
    await _seed(bot)
    engine = bot.deps.read_engine
    statements: list[str] = []
    checkouts: list[object] = []

    def on_statement(*args) -> None:  # noqa: ANN002
        statements.append(args[2])

    def on_checkout(*args) -> None:  # noqa: ANN002
        checkouts.append(args[0])

    event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    event.listen(engine.sync_engine.pool, "checkout", on_checkout)
    try:
        def plan(team):  # noqa: ANN001, ANN202
            w = windows(NOW, team.timezone)
            return w.starts, w.now_hour, f"{w.now_local:%Y-%m}"

        person, team, figures = await ReportStore(engine).me("U0ADA", plan)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_statement)
        event.remove(engine.sync_engine.pool, "checkout", on_checkout)
    assert (len(statements), len(checkouts)) == (2, 1)
    assert person.email == "ada@test.example" and team.slug == "platform"
    assert figures.person_raised == 8_000_000 and sum(v[2][0] for v in figures.person.values()) > 0
