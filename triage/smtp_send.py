"""The only code that hands mail to an SMTP server.

`deliver` demands an `Approval`, which only `review.approve` creates, after it has written the
approval (who and when) to the database. tests/test_review.py checks by reading the source that
nothing else imports smtplib or calls `deliver`.
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from triage.config import SmtpConfig


@dataclass(frozen=True)
class Approval:
    draft_id: int
    approver: str
    at: datetime


class NotApproved(PermissionError):
    """Refused: no person's approval for this message."""


def deliver(cfg: SmtpConfig, msg: EmailMessage, approval: Approval) -> None:
    if not isinstance(approval, Approval) or not approval.approver.strip():
        raise NotApproved("a reply is only sent with a person's recorded approval")
    if not cfg.host:
        raise ValueError("smtp.host is not configured; see config/triage.example.toml [smtp]")
    ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
    port = cfg.port or {"ssl": 465, "starttls": 587, "plain": 25}[cfg.security]
    if cfg.security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, port, context=ctx, timeout=60)
    else:
        server = smtplib.SMTP(cfg.host, port, timeout=60)
    with server:
        server.ehlo()
        if cfg.security == "starttls":
            server.starttls(context=ctx)
            server.ehlo()
        if cfg.username:
            server.login(cfg.username, cfg.password())
        server.send_message(msg)
