"""Small builders for test messages (hand-written text; the real-world corpus is read in place)."""
from __future__ import annotations

from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email import encoders
from email.utils import format_datetime
from datetime import datetime, timezone


def make_mail(
    body: str,
    *,
    subject: str = "Hello",
    sender: str = "Buyer <buyer@customer.test>",
    msgid: str = "<m1@customer.test>",
    charset: str = "utf-8",
    headers: dict[str, str] | None = None,
    photos: int = 0,
) -> bytes:
    text = MIMEText(body, "plain", charset)
    if photos:
        msg = MIMEMultipart("mixed")
        msg.attach(text)
        for i in range(photos):
            p = MIMEBase("image", "jpeg")
            p.set_payload(b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9")
            encoders.encode_base64(p)
            p.add_header("Content-Disposition", "attachment", filename=f"photo{i}.jpg")
            msg.attach(p)
    else:
        msg = text
    msg["From"] = sender
    msg["To"] = "sales@example.test"
    msg["Subject"] = Header(subject, charset).encode() if charset != "utf-8" else subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc))
    msg["Message-ID"] = msgid
    for k, v in (headers or {}).items():
        msg[k] = v
    return msg.as_bytes()


COMPLAINT_EN = """Hi Sunny,

We opened container TGHU8796313 this morning. 52 of the 300 cartons of glass vases under PO 77120
were smashed, the pallets had collapsed. This is a real loss for us; please arrange replacement
for the broken pieces or credit them on the next invoice.

Regards,
Anna
"""

COMPLAINT_ZH = """李经理：

订单 SH-2025-311 的 800 套不锈钢锅今天到货，开箱发现有 200 多套锅盖的把手松动，一拿就掉，
我们的客户已经在问了，请尽快给处理方案，退货还是换货？

张伟
"""

NOT_COMPLAINT_EN = """Hello,

Please quote 2,000 pcs of the ceramic planters, item 3318, FOB Ningbo, with your lead time.

Thanks,
Joanna
"""
