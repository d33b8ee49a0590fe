"""Case status: new -> acknowledged -> investigating -> negotiating -> resolved -> closed.

Every change goes through `set_status`, which refuses moves the process does not allow and writes
the audit event, so the history of a case can always be replayed.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from triage import store
from triage.db import Case, utcnow

STATUSES = ("new", "acknowledged", "investigating", "negotiating", "resolved", "closed")
SEVERITIES = ("low", "medium", "high", "critical")

_ALLOWED = {
    "new": {"acknowledged", "investigating", "resolved", "closed"},
    "acknowledged": {"investigating", "negotiating", "resolved", "closed"},
    "investigating": {"negotiating", "resolved", "closed"},
    "negotiating": {"investigating", "resolved", "closed"},
    "resolved": {"closed", "investigating"},  # investigating again = reopened
    "closed": {"investigating"},
}


class TransitionRefused(ValueError):
    """A status change the process does not allow (say which and why)."""


def set_status(session: Session, case: Case, new: str, actor: str, why: str = "") -> None:
    if new not in STATUSES:
        raise TransitionRefused(f"unknown status {new!r}; one of {', '.join(STATUSES)}")
    if new == case.status:
        return
    if new not in _ALLOWED[case.status]:
        raise TransitionRefused(f"case {case.ref} cannot go from {case.status} to {new}")
    kind = "reopened" if case.status in ("resolved", "closed") else "status_changed"
    store.add_event(session, case, kind, actor=actor, old=case.status, new=new, why=why)
    case.status = new


def assign(session: Session, case: Case, assignee: str, actor: str, why: str = "") -> bool:
    """Give a case to a person (or to nobody with ""), kept in the history like every other change."""
    assignee = assignee.strip()
    if assignee == case.assignee:
        return False
    store.add_event(session, case, "assigned", actor=actor, old=case.assignee, new=assignee, why=why)
    case.assignee = assignee
    return True


def raise_severity(session: Session, case: Case, new: str, why: list[str], sla_hours: float, actor: str = "triage") -> bool:
    """Escalate (never lower) a case's severity, tighten its due time, and say why."""
    if SEVERITIES.index(new) <= SEVERITIES.index(case.severity):
        return False
    store.add_event(session, case, "severity_raised", actor=actor, old=case.severity, new=new, why=why)
    case.severity = new
    due = utcnow() + timedelta(hours=sla_hours)
    if case.due_at is None or due < case.due_at:
        case.due_at = due
    return True
