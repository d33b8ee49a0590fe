"""Build the reply a draft becomes: headers that thread in every client, body in the customer's script.

Pure: the same draft gives the same message (apart from a fresh Message-ID and Date, passed in).
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def new_message_id(from_address: str) -> str:
    domain = from_address.rsplit("@", 1)[-1].strip(">") if "@" in from_address else "triage.local"
    return make_msgid(domain=domain)


def build_reply(*, from_address: str, to_address: str, subject: str, body: str, in_reply_to: str,
                references: list[str], message_id: str, when: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = to_address
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime.now(timezone.utc))
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        msg["References"] = " ".join(refs)
    # Our replies must never trigger the customer's auto-responders into a loop.
    msg["Auto-Submitted"] = "no"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg.set_content(body, charset="utf-8")
    return msg
