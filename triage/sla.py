"""Service levels: which cases are due or overdue, and which customers have gone quiet on us.

A customer who stops answering after our reply on an open high or critical case is the step before
a lost customer; managers see those flagged beside the overdue ones.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from triage import store
from triage.config import Settings
from triage.db import Case, utcnow

OPEN = store.OPEN_STATUSES


def due_or_overdue(session: Session, within_hours: float, now: datetime | None = None) -> list[Case]:
    return store.due_cases(session, within_hours, now)


def flag_silent(session: Session, settings: Settings, now: datetime | None = None) -> list[Case]:
    """Flag open high/critical cases where our last reply has gone unanswered for `sla.silent_days`."""
    now = now or utcnow()
    limit = now - timedelta(days=settings.sla.silent_days)
    q = select(Case).where(Case.status.in_(OPEN), Case.severity.in_(("high", "critical")),
                           Case.last_outbound_at.is_not(None), Case.last_outbound_at <= limit,
                           Case.silent_flagged_at.is_(None))
    flagged = []
    for case in session.scalars(q):
        if case.last_inbound_at is not None and case.last_inbound_at > case.last_outbound_at:
            continue
        case.silent_flagged_at = now
        days = (now - case.last_outbound_at).days
        store.add_event(session, case, "customer_silent", days=days, why=f"no answer {days} days after our reply")
        flagged.append(case)
    session.commit()
    return flagged


def silent_cases(session: Session) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.status.in_(OPEN), Case.silent_flagged_at.is_not(None)).order_by(Case.silent_flagged_at)))
