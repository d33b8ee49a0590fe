"""Drafts in the shared mailbox: staff review them in the mail client they already use.

A draft is appended to the Drafts folder with the \\Draft flag and threading headers, so it opens
as a reply in Outlook, Thunderbird or Foxmail. On approval the sent copy goes to Sent and the draft
is removed; on rejection it is removed.
"""
from __future__ import annotations

import re
from email.message import EmailMessage

from imapclient import IMAPClient

_APPENDUID = re.compile(rb"APPENDUID\s+\d+\s+(\d+)")


def put_draft(client: IMAPClient, folder: str, msg: EmailMessage) -> int | None:
    """Append the draft; returns its UID when the server says (UIDPLUS), else None."""
    resp = client.append(folder, msg.as_bytes(), flags=[b"\\Draft"])
    m = _APPENDUID.search(resp if isinstance(resp, bytes) else str(resp).encode())
    return int(m.group(1)) if m else None


def remove_draft(client: IMAPClient, folder: str, uid: int | None, message_id: str | None) -> bool:
    client.select_folder(folder)
    uids = [uid] if uid else []
    if not uids and message_id:
        uids = client.search(["HEADER", "Message-ID", message_id])
    if not uids:
        return False
    client.delete_messages(uids)
    try:
        client.uid_expunge(uids)
    except Exception:  # servers without UIDPLUS
        client.expunge()
    return True


def append_sent(client: IMAPClient, folder: str, msg: EmailMessage) -> None:
    client.append(folder, msg.as_bytes(), flags=[b"\\Seen"])
