"""Recognise mail that no person wrote to us: auto-replies, bounces and bulk mail.

Such mail must never get a draft (a draft answering an out-of-office reply is how mail loops start),
so the test is deliberately generous: any one standard header or well-known sender is enough.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|abwesenheitsnotiz|réponse automatique"
    r"|自动回复|自動回覆|自動回复|自动答复|休假通知|不在办公室|不在辦公室)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliverable|undelivered mail|delivery status notification|mail delivery (failed|subsystem)"
    r"|returned mail|delivery failure|failure notice|系统退信|退信|無法傳遞|无法投递)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounce[s]?)[@+]", re.IGNORECASE)
_NOREPLY_SENDER = re.compile(r"^(no-?reply|do-?not-?reply|newsletter|notifications?)[@+.-]", re.IGNORECASE)


def classify_auto(headers: Mapping[str, str], sender: str, subject: str, content_type: str) -> str | None:
    """Return "bounce", "auto-reply", "bulk" or None for mail that a person wrote."""
    h = {k.lower(): (v or "") for k, v in headers.items()}
    ctype = content_type.lower()
    sender_l = sender.lower().strip()
    if "multipart/report" in ctype:
        # RFC 6522 reports: read receipts (MDN) are automatic replies; the rest are delivery reports.
        return "auto-reply" if "disposition-notification" in ctype else "bounce"
    if _BOUNCE_SENDER.match(sender_l) or _BOUNCE_SUBJECT.search(subject or ""):
        return "bounce"
    if "x-failed-recipients" in h:
        return "bounce"
    auto_submitted = h.get("auto-submitted", "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return "auto-reply"
    if "x-autoreply" in h or "x-autorespond" in h or "x-autoresponder" in h:
        return "auto-reply"
    if h.get("x-auto-response-suppress", "").strip().lower() in ("all", "oof", "autoreply", "dr, rn, nrn, autoreply", "oof, autoreply"):
        # Outlook sets this on its own automatic mail; a person's mail rarely carries "All"/"OOF".
        return "auto-reply"
    if _AUTO_SUBJECT.search(subject or ""):
        return "auto-reply"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return "bulk"
    if precedence == "auto_reply":
        return "auto-reply"
    if "list-id" in h or "list-unsubscribe" in h:
        return "bulk"
    if "return-path" in h and h["return-path"].strip() in ("<>", ""):
        return "bounce"
    if _NOREPLY_SENDER.match(sender_l):
        return "bulk"
    return None
