"""The `tokenbot` command: serve, org sync, usage import/show, demo."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

from bot.cli import export as export_cli
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("tokenbot")

SLACK_SETUP_HELP = (
    "Slack is not configured, so slash commands and messages are off (ingestion, /healthz and the CLI work). "
    "To connect Slack: create an app at https://api.slack.com/apps -> 'Create New App' -> 'From a manifest' and paste "
    "manifest.yml (replace the example.com URLs with this server's public URL, or use Socket Mode); install it; then "
    "set SLACK_BOT_TOKEN (OAuth & Permissions -> Bot User OAuth Token, xoxb-...), SLACK_SIGNING_SECRET (Basic "
    "Information -> Signing Secret) and, for Socket Mode without a public URL, SLACK_APP_TOKEN (an xapp-... token "
    "with connections:write). Missing now: {missing}."
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"tokenbot: {exc}", file=sys.stderr)
        return 2
    from bot.logs import configure_logging

    configure_logging(settings)
    try:
        return asyncio.run(args.func(settings, args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line (secrets masked) instead of a raw traceback on stderr
        from bot.settings import mask_url_passwords

        log.debug("tokenbot %s failed", args.func.__name__, exc_info=True)  # redacted by the log filter
        print(f"tokenbot: {type(exc).__name__}: {mask_url_passwords(str(exc)).splitlines()[0][:500] if str(exc) else ''}",
              file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenbot", description="The Slack side of your AI gateway.")
    sub = parser.add_subparsers()
    p = sub.add_parser("serve", help="run the bot: HTTP (Slack events, usage ingestion, health) and Socket Mode")
    p.set_defaults(func=cmd_serve)

    org = sub.add_parser("org", help="the org file").add_subparsers()
    p = org.add_parser("sync", help="load the org file into the database (idempotent); prints what changed")
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="validate and print, change nothing")
    p.add_argument("--force", action="store_true", help="sync even though admins changed things in Slack since the "
                                                        "last export (their changes are undone)")
    p.set_defaults(func=cmd_org_sync)
    p = org.add_parser("export", help="write the org as the database has it (with changes made in Slack) as YAML")
    p.add_argument("file", type=Path, nargs="?", help="default: standard output")
    p.set_defaults(func=cmd_org_export)

    db = sub.add_parser("db", help="the database schema (Alembic migrations)").add_subparsers()
    p = db.add_parser("upgrade", help="migrate the database to the latest schema (safe with several replicas)")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("current", help="print the database's schema revision and the latest one")
    p.set_defaults(func=cmd_db_current)
    p = db.add_parser("revision", help="developers: write a migration from the models' difference to the database")
    p.add_argument("--message", "-m", required=True)
    p.set_defaults(func=cmd_db_revision)

    p = sub.add_parser("retention", help="prune raw events older than TOKENBOT_RETENTION_DAYS (rollups are kept)")
    p.set_defaults(func=cmd_retention)
    p = sub.add_parser("check", help="prove the rollups equal the raw sums for every hour raw events still cover")
    p.set_defaults(func=cmd_check)

    usage = sub.add_parser("usage", help="usage events").add_subparsers()
    p = usage.add_parser("import", help="backfill usage from JSON, NDJSON or CSV (same validation as the API)")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_usage_import)
    p = usage.add_parser("show", help="a person's or a team's spend, as /tokens me shows it")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="email, gateway id or Slack id")
    who.add_argument("--team", help="team slug")
    p.set_defaults(func=cmd_usage_show)
    p = usage.add_parser("rejected", help="the latest rejected (dead-lettered) usage items")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_usage_rejected)
    p = usage.add_parser("unclaimed", help="spend whose gateway id no person in the org file claims, by id")
    p.add_argument("--month", help="YYYY-MM (default: the current month to date, UTC)")
    p.add_argument("--top", type=int, default=10, help="how many ids to list (default 10)")
    p.set_defaults(func=cmd_usage_unclaimed)
    p = usage.add_parser("outcomes", help="pull requests and commits per person (OpenTelemetry outcome events)")
    p.add_argument("--month", help="YYYY-MM (default: the current month to date, UTC)")
    p.set_defaults(func=cmd_usage_outcomes)

    p = sub.add_parser("audit", help="the audit log (requests, decisions, refusals, adjustments, expiries) as CSV")
    p.add_argument("--since", required=True, help="YYYY-MM-DD (UTC)")
    p.set_defaults(func=cmd_audit)

    export_cli.add_parser(sub)

    p = sub.add_parser("demo", help="load a demo org and a month of synthetic usage into data/demo.db")
    p.add_argument("--database", default="sqlite+aiosqlite:///data/demo.db")
    p.add_argument("--me", help="your Slack user id: Ada's demo figures become yours in /tokens me")
    p.set_defaults(func=cmd_demo)

    poll = sub.add_parser("poll", help="read usage from a gateway's or provider's API once (resumes from its cursor)")
    polls = poll.add_subparsers()
    p = polls.add_parser("litellm", help="LiteLLM spend logs: store what the webhook missed")
    p.set_defaults(func=cmd_poll, source="litellm")
    for name, what in (("openai", "OpenAI admin usage (completions, hourly buckets)"),
                       ("anthropic", "Anthropic admin usage report (messages, hourly buckets)")):
        p = polls.add_parser(name, help=what + "; a first run reads from the start of the month")
        p.add_argument("--since", type=_since_date, metavar="YYYY-MM-DD",
                       help="backfill: read from this UTC day (events already stored are not counted twice)")
        p.set_defaults(func=cmd_poll, source=name)
    p = polls.add_parser("openai-costs", help="OpenAI organization costs: billed cost per closed UTC day")
    p.set_defaults(func=cmd_poll_costs, source="openai")
    p = polls.add_parser("anthropic-costs", help="Anthropic cost report: billed cost per closed UTC day")
    p.set_defaults(func=cmd_poll_costs, source="anthropic")
    p = sub.add_parser("reconcile", help="gateway-estimated spend vs the providers' bills per day; flags differences")
    p.add_argument("--month", help="YYYY-MM (default: the current month, UTC); the days that have ended")
    p.add_argument("--provider", choices=["openai", "anthropic"], help="only this provider")
    p.add_argument("--all-days", action="store_true", help="list every day, not only the flagged ones")
    p.add_argument("--breakdown", action="store_true",
                   help="where the gap comes from: per billing dimension (text, cache, audio, tools, batch) and model")
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("digest", help="build and post one team's daily digest now (once per team and day)")
    p.add_argument("--team", required=True, help="team slug")
    p.add_argument("--date", help="the local day of the digest, YYYY-MM-DD (default: today in the team's timezone)")
    p.add_argument("--dry-run", action="store_true", help="print the digest instead of posting it")
    p.set_defaults(func=cmd_digest)
    p = sub.add_parser("scan", help="run the warning checks once (budget lines, spend spikes, loops, runaway sessions, idle burn)")
    p.add_argument("--dry-run", action="store_true", help="print the warnings instead of sending them (state unchanged)")
    p.set_defaults(func=cmd_scan)
    return parser


async def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import app_runner, build_bolt_app, build_deps, build_web_app
    from bot.domain.org import OrgFileError

    if settings.slack_configured:
        from bot.slack.outbox import refused_tokens

        refused = await refused_tokens(settings)
        if refused:  # a token that can never work: say which, and stop (a supervisor shows it; nothing half-runs)
            for variable, code in refused:
                print(f"tokenbot: bad setting {variable}: Slack refused it ({code})", file=sys.stderr)
            return 2
    deps = await build_deps(settings)
    if settings.org_file is not None:
        from sqlalchemy.exc import DBAPIError

        for attempt in range(5):
            try:
                for line in await _sync_org(deps, settings.org_file):
                    log.info("org sync: %s", line)
                break
            except OrgFileError as exc:
                log.error("the org file %s has problems; nothing was changed:\n%s", settings.org_file, exc)
                return 1
            except DBAPIError as exc:
                # Replicas starting together sync the same file at once; the loser's transaction rolls back whole,
                # and the retry finds the winner's rows (and nothing left to change).
                if attempt == 4:
                    raise
                log.warning("org sync collided with another process (%s); retrying", type(exc.orig).__name__)
                await asyncio.sleep(0.5 + attempt)
    bolt_app = None
    if settings.slack_configured:
        bolt_app = build_bolt_app(deps)
    else:
        log.warning(SLACK_SETUP_HELP.format(missing=", ".join(settings.missing_slack_variables())))
    if not settings.ingest_tokens:
        log.warning("TOKENBOT_INGEST_TOKENS is not set: POST /v1/usage answers 503 until it is "
                    "(comma-separated bearer tokens the gateway will send)")
    stop = asyncio.Event()  # handlers first: a SIGTERM that comes right after start-up still shuts down cleanly
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = app_runner(build_web_app(deps, bolt_app))
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    log.info("tokenbot listening on http://%s:%d (database %s)", settings.host, settings.port,
             deps.engine.url.render_as_string(hide_password=True))
    socket_handler = None
    if bolt_app is not None and settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(bolt_app, settings.slack_app_token.get_secret_value())
        await socket_handler.connect_async()
        log.info("Socket Mode connected (no public URL needed)")
    scheduler = None
    if settings.scheduler_enabled:  # digests, warnings, request timers (with Slack) and pollers (bot/scheduler.py)
        from bot.jobs.scheduler import build_scheduler

        scheduler = build_scheduler(deps)
        scheduler.start()
    # What start-up built (modules, SQLAlchemy's metadata and compiled statements, the org directory) lives as long
    # as the process: out of the collector's sight, a full collection no longer walks all of it again. Parsing
    # allocates enough to trigger collections often: bench/ingest.py, bot CPU per event 7.2-7.4 us without, 6.7-7.0 with.
    gc.freeze()
    await stop.wait()
    log.info("shutting down")
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    if socket_handler is not None:
        try:  # the Socket Mode client's close waits on its monitor loops; a stop must not
            await asyncio.wait_for(socket_handler.close_async(), timeout=2)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - stopping anyway
            log.info("Socket Mode close did not finish (%s); stopping anyway", type(exc).__name__)
    try:
        await asyncio.wait_for(runner.cleanup(), timeout=5)
    except TimeoutError:
        log.warning("HTTP server did not stop within 5 s; stopping anyway")
    # Let a job that is mid-way finish briefly (its claims stay consistent either way: an unfinished claim's lease
    # ends), then cancel what is left (the Socket Mode client's loops, a Slack retry back-off): SIGTERM must stop
    # the process in seconds, not after every loop's own timeout.
    running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if running:
        _done, pending = await asyncio.wait(running, timeout=3)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)
    await deps.close()
    return 0


async def _sync_org(deps, path: Path) -> list[str]:  # noqa: ANN001
    from bot.features.identity import link_people_by_email
    from bot.domain.org import load_org_file

    org = load_org_file(path)
    lines = await deps.org.sync(org, int(deps.clock.now().timestamp()))
    if deps.slack is not None:
        lines += await link_people_by_email(deps.org, deps.slack)
    directory = await deps.ingestion.directory()
    moved = await deps.ledger.reattribute(directory)
    if moved:
        lines.append(f"{moved:,} earlier events of newly known people attributed to them")
    moved = await deps.outcomes.reattribute(directory)
    if moved:
        lines.append(f"{moved:,} earlier outcome events (pull requests, commits) of newly known people attributed")
    return lines


async def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from storage.db import make_engine
    from storage.migrate import current_revision, head_revision, upgrade

    engine = make_engine(settings.database_url)
    try:
        before = await current_revision(engine)
        await upgrade(engine)
        after = await current_revision(engine)
    finally:
        await engine.dispose()
    print(f"database at {after} (was {before or 'empty'}; latest {head_revision()})")
    return 0


async def cmd_db_current(settings: Settings, _args: argparse.Namespace) -> int:
    from storage.db import make_engine
    from storage.migrate import current_revision, head_revision

    engine = make_engine(settings.database_url)
    try:
        current = await current_revision(engine)
    finally:
        await engine.dispose()
    head = head_revision()
    print(f"database: {current or 'empty'}; latest: {head}; {'current' if current == head else 'needs `tokenbot db upgrade`'}")
    return 0 if current == head else 1


async def cmd_db_revision(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import make_engine
    from storage.migrate import autogenerate, upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)  # the revision is the difference between the models and the latest schema
        await autogenerate(engine, args.message)
    finally:
        await engine.dispose()
    return 0


async def cmd_retention(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from storage.stores.retention import RetentionStore

    async with opened_deps(settings) as deps:
        report = await RetentionStore(deps.engine).prune(int(deps.clock.now().timestamp()), settings.retention_days)
    print(f"pruned {report.events:,} raw events and {report.dead_letters:,} dead letters older than "
          f"{settings.retention_days} days, and {report.job_runs:,} finished job claims; rollups are kept")
    if report.months_dropped:
        print(f"dropped the month partitions {', '.join(report.months_dropped)} whole (their event count is "
              "PostgreSQL's estimate)")
    return 0


async def cmd_check(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.domain.format import usd
    from storage.stores.retention import RetentionStore

    async with opened_deps(settings) as deps:
        result = await RetentionStore(deps.engine).check_rollups()
    if result.from_hour is None:
        print("no raw events: nothing to check")
        return 0
    print(f"{result.hours_checked:,} hours checked: raw events {usd(result.raw_cost_micros)}, "
          f"rollups {usd(result.rollup_cost_micros)}")
    for line in result.mismatches[:50]:
        print("  MISMATCH " + line)
    print("rollups equal the raw sums" if result.ok else f"{len(result.mismatches)} mismatches")
    return 0 if result.ok else 1


async def cmd_org_sync(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.domain.org import OrgFileError, load_org_file

    try:
        org = load_org_file(args.file)
    except OrgFileError as exc:
        print(f"{exc}\nnothing was changed", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"{args.file}: valid ({len(org.teams)} teams, {len(org.people)} people); nothing was changed")
        return 0
    async with opened_deps(settings) as deps:
        from storage.stores.org_admin import OrgAdminStore

        edits = await OrgAdminStore(deps.engine).slack_edits()
        if edits and not args.force:
            print(f"{edits} change(s) were made in Slack (/tokens admin) since the last `tokenbot org export`; "
                  "syncing this file would undo them. Run `tokenbot org export FILE`, merge it into the file in git, "
                  "then sync again (or pass --force to undo them). Nothing was changed.", file=sys.stderr)
            return 1
        lines = await _sync_org(deps, args.file)
        print("\n".join(lines) if lines else "no changes")
        teams, people = await deps.org.counts()
        print(f"org now has {teams} teams and {people} people")
    return 0


async def cmd_org_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from storage.stores.org_admin import OrgAdminStore

    async with opened_deps(settings) as deps:
        text = await OrgAdminStore(deps.engine).export_org()
    if args.file is None:
        sys.stdout.write(text)
    else:
        args.file.write_text(text, encoding="utf-8")
        print(f"wrote {args.file}")
    return 0


async def cmd_usage_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.cli.usage_files import BodyError, read_usage_file

    try:
        items = read_usage_file(args.file)
    except (OSError, BodyError, UnicodeDecodeError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    accepted = duplicates = 0
    rejected = []
    async with opened_deps(settings) as deps:
        from bot.pollers.buckets import price_aggregates

        # Provider usage reports sum many requests per record: price them by their billing dimensions, as the pollers do.
        await deps.ingestion.directory()  # the org file's price overrides
        price_aggregates(deps.ledger.pricer, [i for i in items if isinstance(i, dict) and isinstance(i.get("metadata"), dict)
                                              and ("billing" in i["metadata"]
                                                   or "typical_request_input_tokens" in i["metadata"])])
        for start in range(0, len(items), 5000):
            report = await deps.ingestion.ingest_items(items[start:start + 5000], source=f"import:{args.file.name}")
            accepted += report.accepted
            duplicates += report.duplicates
            rejected += [(start + r.index, r.reason) for r in report.rejected]
    print(f"{args.file}: {accepted:,} accepted, {duplicates:,} duplicates, {len(rejected):,} rejected")
    for index, reason in rejected[:20]:
        print(f"  item {index}: {reason}")
    if len(rejected) > 20:
        print(f"  … {len(rejected) - 20:,} more (see `tokenbot usage rejected`)")
    return 0 if not rejected else 1


async def cmd_usage_show(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.slack.blocks.me import me_plain
    from bot.features.me import me_report, team_report_plain

    async with opened_deps(settings) as deps:
        if args.user:
            person = await deps.org.person_by_ref(args.user)
            if person is None:
                print(f"no person {args.user!r} in the org (try an email, gateway id or Slack id)", file=sys.stderr)
                return 1
            team = await deps.org.team(person.team_id) if person.team_id else None
            print(me_plain(await me_report(deps.ledger, person, team, deps.clock.now())))
        else:
            team = await deps.org.team_by_slug(args.team)
            if team is None:
                print(f"no team {args.team!r} in the org", file=sys.stderr)
                return 1
            print(await team_report_plain(deps.ledger, team, deps.clock.now()))
    return 0


async def cmd_usage_rejected(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.app import opened_deps

    async with opened_deps(settings) as deps:
        rows = await deps.ledger.recent_dead_letters(args.limit)
    for r in rows:
        when = datetime.fromtimestamp(r["received_at"], UTC).isoformat(timespec="seconds")
        print(f"{when} {r['source']} item {r['item_index']}: {r['reason']}\n    {r['raw'][:300]}")
    if not rows:
        print("no rejected usage")
    return 0


async def cmd_usage_unclaimed(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.domain.reconcile import parse_month
    from bot.features.unclaimed import load_unclaimed, unclaimed_plain

    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        print(f"--month: {exc}", file=sys.stderr)
        return 2
    if args.top < 1:
        print("--top: must be at least 1", file=sys.stderr)
        return 2
    async with opened_deps(settings) as deps:
        month, unclaimed = await load_unclaimed(deps, month, args.top)
        print(unclaimed_plain(month, unclaimed, deps.clock.now()))
    return 0


async def cmd_usage_outcomes(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.domain.reconcile import parse_month
    from bot.features.outcomes import load_outcomes, outcomes_plain

    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        print(f"--month: {exc}", file=sys.stderr)
        return 2
    async with opened_deps(settings) as deps:
        print(outcomes_plain(*await load_outcomes(deps, month)))
    return 0


async def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    import csv
    import json
    from datetime import UTC, datetime

    from bot.app import opened_deps

    try:
        since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        print(f"--since {args.since!r}: expected a date like 2026-11-01", file=sys.stderr)
        return 2
    async with opened_deps(settings) as deps:
        rows = await deps.requests.audit_since(int(since.timestamp()))
    out = csv.writer(sys.stdout)
    out.writerow(["at", "actor", "action", "request_id", "detail"])
    for r in rows:
        out.writerow([datetime.fromtimestamp(r["at"], UTC).isoformat(timespec="seconds"), r["actor"], r["action"],
                      r["request_id"] or "", json.dumps(r["detail"], sort_keys=True) if r["detail"] else ""])
    return 0


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.cli.demo import demo_events, demo_org_text
    from bot.domain.org import parse_org

    demo_settings = settings.model_copy(update={"database_url": load_settings(TOKENBOT_DATABASE_URL=args.database).database_url})
    async with opened_deps(demo_settings) as deps:
        org = parse_org(demo_org_text(), "demo org")
        if args.me:
            ada = org.people[0]
            org = org.__class__(**{**org.__dict__, "people": (ada.__class__(**{**ada.__dict__, "slack_id": args.me}),
                                                              *org.people[1:])})
        await deps.org.sync(org, int(deps.clock.now().timestamp()))
        events = demo_events(deps.clock.now())
        accepted = 0
        for start in range(0, len(events), 5000):
            accepted += (await deps.ingestion.ingest_items(events[start:start + 5000], source="demo")).accepted
    print(f"demo org loaded into {args.database}: {len(org.teams)} teams, {len(org.people)} people, "
          f"{accepted:,} new usage events over 30 days")
    print(f"try:  TOKENBOT_DATABASE_URL={args.database} tokenbot usage show --user ada@demo.example")
    print(f"      TOKENBOT_DATABASE_URL={args.database} tokenbot serve")
    return 0



def _since_date(text: str) -> int:
    from datetime import UTC, datetime

    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-11-01") from None


async def cmd_poll(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.pollers.anthropic_usage import poll_anthropic_usage
    from bot.pollers.litellm_spend import poll_litellm_spend
    from bot.pollers.openai_usage import poll_openai_usage

    async with opened_deps(settings) as deps:
        if args.source == "litellm":
            report = await poll_litellm_spend(deps)
        else:
            poll = {"openai": poll_openai_usage, "anthropic": poll_anthropic_usage}[args.source]
            with _progress_bar(f"{args.source} usage") as progress:
                report = await poll(deps, since=getattr(args, "since", None), progress=progress)
    print(report.summary())
    if args.source == "litellm" and report.pages:
        print(f"litellm: the webhook had missed {report.accepted:,} of {report.accepted + report.duplicates:,} "
              "requests read (now stored)")
    return 0 if report.ok else 1


class _progress_bar:  # noqa: N801 - used as a context manager
    """A rich progress bar over the hours a usage poll reads (on a terminal only; the summary is printed anyway)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._bar = None
        self._task = None

    def __enter__(self):  # noqa: ANN204
        if not sys.stdout.isatty():
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("hours"), TimeRemainingColumn(), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.what, total=None)
        return self._update

    def _update(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


async def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import date
    from zoneinfo import ZoneInfo

    from bot.app import opened_deps
    from bot.features.digests import build_figures, digest_key, run_digest
    from bot.slack.blocks.digest import digest_plain
    from storage.stores.runs import RunLog

    async with opened_deps(settings) as deps:
        team = await deps.org.team_by_slug(args.team)
        if team is None:
            print(f"no team {args.team!r} in the org", file=sys.stderr)
            return 1
        try:
            day = date.fromisoformat(args.date) if args.date else deps.clock.now().astimezone(ZoneInfo(team.timezone)).date()
        except ValueError:
            print(f"--date {args.date!r} must be YYYY-MM-DD", file=sys.stderr)
            return 2
        if args.dry_run:
            print(digest_plain(await build_figures(deps, team, day)))
            return 0
        if deps.slack is None or not team.channel:
            print("cannot post: " + ("SLACK_BOT_TOKEN is not set" if deps.slack is None else
                                     f"team {team.slug} has no channel in the org file"), file=sys.stderr)
            return 1
        runs = RunLog(deps.engine)
        result = await run_digest(deps, team, day, deps.slack, runs)
        key = digest_key(team, day)
        if result.posted:
            print(f"posted the {team.slug} digest for {day} to {team.channel}")
            return 0
        if result.failed:
            print(f"posting the {team.slug} digest failed (the scheduler will retry): {result.failed[0][1]}",
                  file=sys.stderr)
            return 1
        run = await runs.get(key)
        print(f"the {team.slug} digest for {day} was already posted or is being posted "
              f"({run.status if run else '?'}{', ' + run.detail if run and run.detail else ''}); not posted again")
        return 0


async def cmd_scan(settings: Settings, args: argparse.Namespace) -> int:
    from bot.features.warnings import scan
    from bot.features.signals import scan_signals
    from bot.app import opened_deps

    async with opened_deps(settings) as deps:
        if deps.slack is None and not args.dry_run:
            print("cannot send warnings: SLACK_BOT_TOKEN is not set (try --dry-run)", file=sys.stderr)
            return 1
        result = await scan(deps, dry_run=args.dry_run)
        signals = await scan_signals(deps, dry_run=args.dry_run)
    result.messages += signals.messages
    result.failed += signals.failed
    verb = "would send" if args.dry_run else "sent"
    for target, text in result.messages:
        print(f"{verb} to {target}:\n  " + text.replace("\n", "\n  "))
    for target, error in result.failed:
        print(f"failed to {target}: {error}", file=sys.stderr)
    if not result.messages and not result.failed:
        print("no warnings")
    return 1 if result.failed else 0


async def cmd_poll_costs(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.pollers.anthropic_costs import poll_anthropic_costs
    from bot.pollers.openai_costs import poll_openai_costs

    poll = {"openai": poll_openai_costs, "anthropic": poll_anthropic_costs}[args.source]
    async with opened_deps(settings) as deps:
        report = await poll(deps)
    print(report.summary())
    return 0 if report.ok else 1


async def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import opened_deps
    from bot.domain.reconcile import overlap_lines, parse_month, reconcile_plain, reconcile_summary_line
    from bot.domain.reconcile_breakdown import breakdown_plain
    from bot.features.reconciliation import load_breakdown, load_overlap, load_reconciliation

    try:
        month = parse_month(args.month) if args.month else None
    except ValueError as exc:
        print(f"--month: {exc}", file=sys.stderr)
        return 2
    async with opened_deps(settings) as deps:
        result = await load_reconciliation(deps, month, args.provider)
        overlap = await load_overlap(deps, month)
        lines = await load_breakdown(deps, month, args.provider) if args.breakdown else None
    label = args.month or "this month"
    if result is None:
        print(f"no day of {label} has ended yet (UTC): nothing to reconcile")
    else:
        print(reconcile_plain(result, all_days=args.all_days))
        print()
        print(reconcile_summary_line(result))
        if lines is not None:
            print()
            print(breakdown_plain(*lines))
    for line in overlap_lines(overlap, label):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
