"""The `triage` command: the product's front door for staff, analysts and the admin.

Commands that read print a table or, with --json, one JSON object per line (a stable contract that
evaluation tools build on). Commands that write say what they did. Errors name what to fix and exit
non-zero; a single bad file never stops a multi-file command.
"""
from __future__ import annotations

import json
import os
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path

import click

from triage.config import ConfigError, Settings, SourceConfig, load_settings
from triage.log import attach_progress_bar, setup_logging


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _model(settings: Settings):
    from triage.nlp.classifier import IncompatibleModel, load_model

    try:
        return load_model(settings.resolve(settings.model_path))
    except (FileNotFoundError, IncompatibleModel) as e:
        raise click.ClickException(str(e)) from e


def _sessions(settings: Settings, database: str | None = None):
    from triage.db import make_sessionmaker
    from triage.migrate import SchemaOutdated

    try:
        return make_sessionmaker(database or settings.resolved_database_url())
    except SchemaOutdated as e:
        raise click.ClickException(str(e)) from e


def _width(s: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _pad(s: object, w: int) -> str:
    s = str(s)
    return s + " " * max(0, w - _width(s))


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(_width(h), *(_width(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(_pad(h, w) for h, w in zip(headers, widths)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in rows:
        click.echo("  ".join(_pad(c, w) for c, w in zip(r, widths)).rstrip())


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $TRIAGE_CONFIG or config/triage.toml; built-in defaults if neither exists).")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, log_level: str) -> None:
    """triage: turns complaint mail in a shared inbox into cases with reviewed draft replies."""
    setup_logging(log_level)
    attach_progress_bar()
    try:
        ctx.obj = {"settings": load_settings(config_path)}
    except ConfigError as e:
        raise click.ClickException(str(e)) from e


# ---- processing ---------------------------------------------------------------------------------
@main.command()
@click.option("--maildir", type=click.Path(file_okay=False), help="Read this Maildir or .eml folder instead of the configured sources.")
@click.option("--database", help="Database URL, overriding the config (e.g. sqlite:///data/triage.db).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per processed message.")
@click.pass_context
def process(ctx: click.Context, maildir: str | None, database: str | None, as_json: bool) -> None:
    """One pass over the mail sources: record, understand, open cases and drafts."""
    from triage.pipeline import Pipeline, outcome_rows
    from triage.worker import Worker

    settings = _settings(ctx)
    if maildir:
        settings = replace(settings, sources=(SourceConfig(name=f"maildir:{Path(maildir).resolve()}", kind="maildir", path=str(Path(maildir).resolve())),))
    if not settings.sources:
        raise click.ClickException("no mail sources configured; add [[sources]] to the config or pass --maildir")
    settings = replace(settings, sources=tuple(
        replace(s, path=str(settings.resolve(s.path))) if s.kind == "maildir" else s for s in settings.sources))
    pipeline = Pipeline(settings, _sessions(settings, database), _model(settings))
    outcomes = Worker(settings, pipeline).poll_once()
    if as_json:
        for o in outcomes:
            click.echo(json.dumps(o.__dict__, ensure_ascii=False))
        return
    _print_table(["message", "lang", "complaint", "category", "severity", "case", "outcome"], outcome_rows(outcomes))
    opened = sum(1 for o in outcomes if o.note == "case opened")
    failed = sum(1 for o in outcomes if o.status == "failed")
    click.echo(f"\n{len(outcomes)} new messages, {opened} cases opened, {failed} quarantined.")


@main.command()
@click.option("--max-polls", type=int, default=None, help="Stop after this many polls (for trials).")
@click.pass_context
def run(ctx: click.Context, max_polls: int | None) -> None:
    """Poll the configured sources every poll_interval_seconds until stopped (Ctrl-C or SIGTERM)."""
    from triage.pipeline import Pipeline
    from triage.worker import Worker

    settings = _settings(ctx)
    settings = replace(settings, sources=tuple(
        replace(s, path=str(settings.resolve(s.path))) if s.kind == "maildir" else s for s in settings.sources))
    pipeline = Pipeline(settings, _sessions(settings), _model(settings))
    Worker(settings, pipeline).run(max_polls=max_polls)


# ---- model ----------------------------------------------------------------------------------------
@main.command()
@click.option("--data", "data_dir", default="training_data/messages", show_default=True, type=click.Path(exists=True))
@click.option("--out", default=None, help="Model file (default: model_path from the config).")
@click.option("--seed", default=13, show_default=True)
@click.pass_context
def train(ctx: click.Context, data_dir: str, out: str | None, seed: int) -> None:
    """Train the classifier on the train split of the labelled messages."""
    from triage.training import train_model

    settings = _settings(ctx)
    _, meta = train_model(data_dir, out or settings.resolve(settings.model_path), seed=seed, progress=click.echo)
    click.echo(json.dumps(meta["metrics"], indent=2))


@main.command(name="eval")
@click.option("--data", "data_dir", default="training_data/messages", show_default=True, type=click.Path(exists=True))
@click.option("--model", "model_path", default=None, help="Model file (default: model_path from the config).")
@click.option("--corpus", type=click.Path(file_okay=False), default=None,
              help="Folder of real non-complaint mail for the false-alarm rate (default: ../shared/corpus if present).")
@click.option("--all", "every_record", is_flag=True,
              help="Score every record under --data, not only the test split (an outside labelled set).")
@click.pass_context
def eval_(ctx: click.Context, data_dir: str, model_path: str | None, corpus: str | None, every_record: bool) -> None:
    """Per-class precision, recall, F1 and confusion matrices on the held-out test split, beside a keyword baseline.

    With --all, every record under --data is scored: for an outside set of labelled mail that the
    model never trained on, whatever ids it uses."""
    from triage.dataset import examples, load_records, split
    from triage.training import evaluate, evaluate_baseline, format_report

    settings = _settings(ctx)
    if model_path:
        settings = replace(settings, model_path=model_path)
    model = _model(settings)
    records = load_records(data_dir)
    test = records if every_record else split(records)[1]
    if not test:
        raise click.ClickException(f"no {'' if every_record else 'test-split '}records under {data_dir}")
    scope = (f"All {{n}} records under {data_dir} (--all: meaningful only for mail the model never trained on)"
             if every_record else "Held-out test split: {n} messages (never used in training)")
    exs = examples(test)
    click.echo(format_report(evaluate(model, exs), evaluate_baseline(exs), scope))
    from triage.training import corpus_false_alarms, extraction_report

    click.echo("\n" + extraction_report(test, "all records" if every_record else "the test split", model))

    corpus_dir = Path(corpus) if corpus else settings.resolve("../shared/corpus")
    if corpus_dir.is_dir():
        n, flagged = corpus_false_alarms(model, corpus_dir)
        rate = len(flagged) / n if n else 0.0
        click.echo(f"\n== false alarms on real non-complaint mail ({corpus_dir}): {len(flagged)} of {n} = {rate:.1%}")
        for name, subject, conf in flagged:
            click.echo(f"  {conf:.2f}  {name}  {subject}")


# ---- side-effect-free inspection -----------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (the only format for now).")
def parse(files: tuple[str, ...], as_json: bool) -> None:
    """Parse .eml files and print headers, text, newest part, attachments and auto-mail kind."""
    from triage.parse import ParseError, parse_message

    for f in files:
        try:
            m = parse_message(Path(f).read_bytes())
        except (OSError, ParseError) as e:
            click.echo(json.dumps({"file": f, "error": str(e)}, ensure_ascii=False))
            continue
        click.echo(json.dumps({
            "file": f, "message_id": m.message_id, "subject": m.subject,
            "from": m.sender, "date": m.date.isoformat() if m.date else None,
            "text": m.text, "newest": m.newest,
            "attachments": [{"name": a.name, "content_type": a.content_type, "size": a.size} for a in m.attachments],
            "auto": m.auto,
        }, ensure_ascii=False))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (the only format for now).")
@click.pass_context
def classify(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Classify .eml files and show the draft a complaint would get; writes nothing."""
    from datetime import timedelta

    from triage.db import utcnow
    from triage.draft import make_draft
    from triage.parse import ParseError, parse_message
    from triage.understand import understand

    settings = _settings(ctx)
    model = _model(settings)
    for f in files:
        try:
            m = parse_message(Path(f).read_bytes())
            u = understand(model, m, settings.company.key_account_domains)
        except (OSError, ParseError) as e:
            click.echo(json.dumps({"file": f, "error": str(e)}, ensure_ascii=False))
            continue
        except Exception as e:  # keep going: one odd file must not hide the others' results
            click.echo(json.dumps({"file": f, "error": f"{type(e).__name__}: {e}"}, ensure_ascii=False))
            continue
        d = None
        if u.is_complaint:
            hours = settings.sla.hours(u.severity)
            d = make_draft(u, case_ref="C-0000-000000", subject=m.subject, customer_name=m.sender_name, newest=m.newest,
                           message_id=m.message_id, references=m.references, reply_by=utcnow() + timedelta(hours=hours),
                           company=settings.company.name, signature_en=settings.company.signature_en,
                           signature_zh=settings.company.signature_zh)
        j = u.to_json()
        click.echo(json.dumps({
            "file": f, "language": j["language"], "is_complaint": j["is_complaint"], "category": j["category"],
            "secondary": j["secondary"], "severity": j["severity"], "confidence": j["confidence"],
            "order_numbers": j["order_numbers"], "quantities": j["quantities"], "amounts": j["amounts"],
            "remedy": j["remedy"], "has_attachments": j["has_attachments"], "dates": j["dates"],
            "draft": d.to_json() if d else None, "references": j["references"], "signals": j["signals"],
            "reasons": j["reasons"], "auto": m.auto,
        }, ensure_ascii=False))


# ---- cases ---------------------------------------------------------------------------------------
def _case(session, ref: str):
    from triage import store

    c = store.case_by_ref(session, ref)
    if c is None:
        raise click.ClickException(f"no case {ref}")
    return c


@main.group(invoke_without_command=True)
@click.option("--database", help="Database URL, overriding the config.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per case.")
@click.option("--status", default=None, help="Only cases with this status.")
@click.option("--assignee", default=None, help="Only cases assigned to this person (\"\" for unassigned).")
@click.pass_context
def cases(ctx: click.Context, database: str | None, as_json: bool, status: str | None, assignee: str | None) -> None:
    """List cases (or `triage cases show REF`)."""
    ctx.obj["database"] = database
    if ctx.invoked_subcommand:
        return
    from triage import store

    with _sessions(_settings(ctx), database)() as s:
        rows = store.list_cases(s, status, assignee)
        if as_json:
            for c in rows:
                click.echo(json.dumps({"ref": c.ref, "status": c.status, "category": c.category, "severity": c.severity,
                                       "assignee": c.assignee, "message_ids": [m.message_id for m in c.messages]},
                                      ensure_ascii=False))
            return
        _print_table(["case", "status", "severity", "category", "customer", "assignee", "due (UTC)", "subject"],
                     [[c.ref, c.status, c.severity, c.category or "-", c.customer, c.assignee or "-",
                       f"{c.due_at:%Y-%m-%d %H:%M}" if c.due_at else "-", (c.subject or "")[:50]] for c in rows])


@cases.command("show")
@click.argument("ref")
@click.pass_context
def cases_show(ctx: click.Context, ref: str) -> None:
    """One case: facts, reasons, messages, draft and history."""
    with _sessions(_settings(ctx), ctx.obj.get("database"))() as s:
        c = _case(s, ref)
        click.echo(f"{c.ref}  [{c.status}]  {c.severity} {c.category}  secondary: {', '.join(c.secondary) or '-'}")
        click.echo(f"customer: {c.customer_name} <{c.customer}>   language: {c.language}   due: {c.due_at:%Y-%m-%d %H:%M} UTC")
        click.echo(f"orders: {', '.join(c.order_numbers) or '-'}   other refs: {', '.join(c.other_refs) or '-'}   product: {c.product or '-'}")
        amounts = ", ".join("{} {:,.2f}".format(a["currency"], a["value"]) for a in c.amounts) or "-"
        click.echo(f"quantity affected: {c.quantity_affected or '-'} of {c.quantity_ordered or '-'}   amounts: {amounts}"
                   f"   remedy asked: {', '.join(c.remedy) or '-'}")
        click.echo(f"owner: {c.department or '-'} {c.assignee}   key account: {'yes' if c.key_account else 'no'}")
        atts = [a for m in c.messages for a in m.attachments]
        if atts:
            click.echo("attachments: " + ", ".join(f"{a.name} ({a.size} B{', photo' if a.is_photo else ''})" for a in atts))
        click.echo("why: " + "; ".join(c.reasons))
        click.echo("\nmessages:")
        for m in c.messages:
            click.echo(f"  {m.received_at:%Y-%m-%d %H:%M}  {m.sender}  {m.subject}")
        for d in c.drafts:
            click.echo(f"\ndraft [{d.status}] {d.subject}")
            if d.guard:
                click.echo("  GUARD: " + "; ".join(d.guard))
            click.echo("  " + d.body.replace("\n", "\n  "))
        click.echo("\nhistory:")
        for e in c.events:
            click.echo(f"  {e.at:%Y-%m-%d %H:%M}  {e.actor}  {e.kind}  {json.dumps(e.detail, ensure_ascii=False)}")


# ---- quarantine ------------------------------------------------------------------------------------
@main.group()
def quarantine() -> None:
    """Messages that could not be read or understood, kept with their raw bytes and the reason."""


@quarantine.command("list")
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def quarantine_list(ctx: click.Context, database: str | None) -> None:
    from triage import store

    with _sessions(_settings(ctx), database)() as s:
        _print_table(["id", "source", "key", "bytes", "reason"],
                     [[m.id, m.source[-30:], m.source_key[-40:], m.size, (m.reason or "")[:80]] for m in store.quarantined(s)])


@quarantine.command("show")
@click.argument("message_db_id", type=int)
@click.option("--raw", is_flag=True, help="Write the raw bytes to standard output.")
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def quarantine_show(ctx: click.Context, message_db_id: int, raw: bool, database: str | None) -> None:
    from triage.db import Message

    with _sessions(_settings(ctx), database)() as s:
        m = s.get(Message, message_db_id)
        if m is None or m.status != "failed":
            raise click.ClickException(f"no quarantined message with id {message_db_id}")
        if raw:
            sys.stdout.buffer.write(m.raw or b"")
            return
        click.echo(f"id {m.id}  source {m.source}  key {m.source_key}  {m.size} bytes\nreason: {m.reason}")


@quarantine.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def quarantine_retry(ctx: click.Context, ids: tuple[int, ...], database: str | None) -> None:
    """Process quarantined messages again (all of them, or the ids given), e.g. after an upgrade."""
    from triage import store
    from triage.db import Message
    from triage.pipeline import Pipeline

    settings = _settings(ctx)
    sessions = _sessions(settings, database)
    pipeline = Pipeline(settings, sessions, _model(settings))
    with sessions() as s:
        targets = [m for m in store.quarantined(s) if not ids or m.id in ids]
        for m in targets:
            if m.raw is None:
                click.echo(f"{m.id}: no raw bytes kept (over the size limit); fetch it again from the mailbox")
                continue
            m.status, m.reason = "received", None
            s.commit()
            out = pipeline._process_recorded(s, s.get(Message, m.id))
            click.echo(f"{m.id}: {out.status} {out.note}")


def _actor(name: str | None) -> str:
    import getpass

    return (name or os.environ.get("TRIAGE_USER") or getpass.getuser()).strip()


# ---- review ------------------------------------------------------------------------------------------
@main.group(invoke_without_command=True)
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def review(ctx: click.Context, database: str | None) -> None:
    """Drafts waiting for a person: list (default), show, edit, approve, reject."""
    ctx.obj["database"] = database
    if ctx.invoked_subcommand:
        return
    from triage import review as rv

    with _sessions(_settings(ctx), database)() as s:
        rows = [[d.id, d.case.severity, f"{d.case.due_at:%Y-%m-%d %H:%M}" if d.case.due_at else "-", d.case.ref,
                 d.language, "BLOCKED" if d.guard else "ok", d.subject[:60]] for d in rv.pending(s)]
        _print_table(["draft", "severity", "due (UTC)", "case", "lang", "guard", "subject"], rows)


def _review_imap(settings: Settings):
    """A connection to the review mailbox, made only when needed."""
    name = settings.review.mailbox
    if not name:
        return lambda: None
    cfg = next((s for s in settings.sources if s.name == name), None)
    if cfg is None or cfg.kind != "imap":
        return lambda: None

    def connect():
        from triage.sources.imap import ImapSource

        return ImapSource(cfg).connect()

    return connect


@review.command("show")
@click.argument("draft_id", type=int)
@click.pass_context
def review_show(ctx: click.Context, draft_id: int) -> None:
    """A draft beside the customer's message."""
    from triage.db import Draft

    with _sessions(_settings(ctx), ctx.obj.get("database"))() as s:
        d = s.get(Draft, draft_id)
        if d is None:
            raise click.ClickException(f"no draft {draft_id}")
        first = d.case.messages[0] if d.case.messages else None
        click.echo(f"case {d.case.ref}  {d.case.severity} {d.case.category}  due {d.case.due_at:%Y-%m-%d %H:%M} UTC  [{d.status}]")
        if first is not None:
            click.echo(f"\n--- customer ({first.sender}): {first.subject}\n{first.newest or ''}")
        click.echo(f"\n--- draft to {d.to_address}: {d.subject}\n{d.body}")
        if d.guard:
            click.echo("GUARD (approval blocked): " + "; ".join(d.guard))


@review.command("edit")
@click.argument("draft_id", type=int)
@click.option("--as", "actor", help="Your name (default: $TRIAGE_USER or your login).")
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False), help="Take the new body from this file instead of $EDITOR.")
@click.pass_context
def review_edit(ctx: click.Context, draft_id: int, actor: str | None, body_file: str | None) -> None:
    """Edit a draft in $EDITOR; the guard checks the result."""
    from triage import review as rv
    from triage.db import Draft

    with _sessions(_settings(ctx), ctx.obj.get("database"))() as s:
        d = s.get(Draft, draft_id)
        if d is None:
            raise click.ClickException(f"no draft {draft_id}")
        body = Path(body_file).read_text(encoding="utf-8") if body_file else click.edit(d.body, extension=".txt")
        if body is None:
            click.echo("unchanged")
            return
        try:
            found = rv.edit(s, draft_id, body, _actor(actor))
        except rv.ReviewError as e:
            raise click.ClickException(str(e)) from e
        click.echo("saved" + ("; the guard will block approval: " + "; ".join(map(str, found)) if found else ""))


@review.command("approve")
@click.argument("draft_id", type=int)
@click.option("--as", "actor", help="Your name, recorded as the approver (default: $TRIAGE_USER or your login).")
@click.pass_context
def review_approve(ctx: click.Context, draft_id: int, actor: str | None) -> None:
    """Approve and send a draft: guard, SMTP, Sent folder, case acknowledged."""
    from triage import review as rv

    settings = _settings(ctx)
    with _sessions(settings, ctx.obj.get("database"))() as s:
        try:
            d = rv.approve(s, settings, draft_id, _actor(actor), imap=_review_imap(settings))
        except rv.GuardBlocked as e:
            raise click.ClickException(str(e)) from e
        except rv.ReviewError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"sent draft {d.id} for {d.case.ref} to {d.to_address}; case is {d.case.status}")


@review.command("reject")
@click.argument("draft_id", type=int)
@click.option("--reason", required=True, help="Why (kept on the case).")
@click.option("--as", "actor", help="Your name (default: $TRIAGE_USER or your login).")
@click.pass_context
def review_reject(ctx: click.Context, draft_id: int, reason: str, actor: str | None) -> None:
    from triage import review as rv

    settings = _settings(ctx)
    with _sessions(settings, ctx.obj.get("database"))() as s:
        try:
            d = rv.reject(s, draft_id, _actor(actor), reason, imap=_review_imap(settings))
        except rv.ReviewError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"rejected draft {d.id} for {d.case.ref}")


# ---- managers ------------------------------------------------------------------------------------------
@main.command()
@click.option("--within", "within_hours", default=4.0, show_default=True, help="Also list cases due within this many hours.")
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def sla(ctx: click.Context, within_hours: float, database: str | None) -> None:
    """Cases due soon or overdue, and customers gone silent after our reply."""
    from triage import sla as sla_mod
    from triage.db import utcnow

    settings = _settings(ctx)
    with _sessions(settings, database)() as s:
        sla_mod.flag_silent(s, settings)
        now = utcnow()
        rows = []
        for c in sla_mod.due_or_overdue(s, within_hours, now):
            late = (now - c.due_at).total_seconds() / 3600
            rows.append([c.ref, c.severity, c.status, f"{c.due_at:%Y-%m-%d %H:%M}", f"OVERDUE {late:.1f}h" if late > 0 else f"in {-late:.1f}h",
                         c.department or "-", c.customer])
        _print_table(["case", "severity", "status", "due (UTC)", "", "owner", "customer"], rows)
        silent = sla_mod.silent_cases(s)
        if silent:
            click.echo("\ncustomers silent after our reply:")
            _print_table(["case", "severity", "our last reply", "customer"],
                         [[c.ref, c.severity, f"{c.last_outbound_at:%Y-%m-%d}", c.customer] for c in silent])


@cases.command("status")
@click.argument("ref")
@click.argument("new_status")
@click.option("--why", default="", help="Kept in the case history.")
@click.option("--as", "actor", help="Your name (default: $TRIAGE_USER or your login).")
@click.pass_context
def cases_status(ctx: click.Context, ref: str, new_status: str, why: str, actor: str | None) -> None:
    """Move a case: new, acknowledged, investigating, negotiating, resolved, closed."""
    from triage.workflow import TransitionRefused, set_status

    with _sessions(_settings(ctx), ctx.obj.get("database"))() as s:
        c = _case(s, ref)
        try:
            set_status(s, c, new_status, _actor(actor), why)
        except TransitionRefused as e:
            raise click.ClickException(str(e)) from e
        s.commit()
        click.echo(f"{ref} is {c.status}")


@cases.command("assign")
@click.argument("ref")
@click.argument("assignee")
@click.option("--why", default="", help="Kept in the case history.")
@click.option("--as", "actor", help="Your name (default: $TRIAGE_USER or your login).")
@click.pass_context
def cases_assign(ctx: click.Context, ref: str, assignee: str, why: str, actor: str | None) -> None:
    """Give a case to a person (\"\" to unassign); the change is kept in the case history."""
    from triage.workflow import assign

    with _sessions(_settings(ctx), ctx.obj.get("database"))() as s:
        c = _case(s, ref)
        changed = assign(s, c, assignee, _actor(actor), why)
        s.commit()
        click.echo(f"{ref} is assigned to {c.assignee or 'nobody'}" + ("" if changed else " (unchanged)"))


@cases.command("label")
@click.argument("ref")
@click.option("--category", type=click.Choice(["late_delivery", "wrong_goods", "damage", "quality", "billing", "unreachable_staff"]))
@click.option("--severity", type=click.Choice(["low", "medium", "high", "critical"]))
@click.option("--not-complaint", is_flag=True, help="The message was not a complaint after all.")
@click.option("--confirm", is_flag=True, help="The current labels are right.")
@click.option("--as", "actor", help="Your name (default: $TRIAGE_USER or your login).")
@click.pass_context
def cases_label(ctx, ref, category, severity, not_complaint, confirm, actor) -> None:
    """Confirm or correct a case's labels: the labelled history that retraining learns from."""
    from triage import labels

    with _sessions(_settings(ctx), ctx.obj.get("database"))() as s:
        c = _case(s, ref)
        changed = labels.correct(s, c, _actor(actor), category=category, severity=severity,
                                 is_complaint=False if not_complaint else None, confirm=confirm)
        click.echo(f"{ref}: " + (", ".join(changed) if changed else "labels confirmed"))


@main.command("export-labels")
@click.option("--out", default="training_data/messages/labelled_history.jsonl", show_default=True)
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def export_labels(ctx: click.Context, out: str, database: str | None) -> None:
    """Write the labelled history (cases a person confirmed or corrected) as training records."""
    from triage import labels

    with _sessions(_settings(ctx), database)() as s:
        n = labels.export(s, Path(out))
    click.echo(f"{n} labelled messages written to {out}; `triage train` will use them")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--database", help="Database URL, overriding the config.")
@click.pass_context
def db_upgrade(ctx: click.Context, database: str | None) -> None:
    """Migrate the database to this version's schema, keeping all data (back it up first)."""
    from sqlalchemy import create_engine

    from triage.migrate import upgrade

    settings = _settings(ctx)
    engine = create_engine(database or settings.resolved_database_url())
    before, after = upgrade(engine)
    click.echo(f"schema {before or 'pre-migration'} -> {after}")
