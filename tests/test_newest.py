"""The newest part: what the sender wrote now, without quotes, quoted headers or signature."""
from __future__ import annotations

import pytest

from triage.newest import newest_part

CASES = [
    ("gmail", "Still no B/L for PO 1.\n\nOn Tue, 3 Mar 2026 at 10:14, Lily Wang <lily@x.test> wrote:\n> We shipped.\n", "Still no B/L for PO 1."),
    ("wrapped gmail", "Still waiting.\n\nOn Tue, 3 Mar 2026 at 10:14, Lily Wang\n<lily@x.test> wrote:\n> ok\n", "Still waiting."),
    ("angle quotes", "Agreed.\n> the cartons were wet\n> please advise", "Agreed."),
    ("outlook", "Thanks, received.\n\nFrom: Tom <t@x.test>\nSent: Monday, 2 March 2026 09:00\nTo: Sales\nSubject: damaged\n\nThe cartons were crushed!", "Thanks, received."),
    ("original message", "Noted.\n-----Original Message-----\nFrom: a\nThe mugs are broken", "Noted."),
    ("foxmail zh", "好的，收到照片了。\n\n发件人: 王先生\n发送时间: 2026年3月2日 9:00\n收件人: 销售部\n主题: 货损\n\n货全部压坏了！", "好的，收到照片了。"),
    ("outlook zh-Hant", "已收到，謝謝。\n\n寄件者: 陳小姐\n寄件日期: 2026年3月2日\n收件者: 業務\n主旨: 瑕疵\n\n整批都有瑕疵", "已收到，謝謝。"),
    ("qq original", "请看附件。\n\n------------------ 原始邮件 ------------------\n发件人: x\n货到了，坏了一半", "请看附件。"),
    ("zh-Hant original", "了解。\n-------- 原始郵件 --------\n寄件者: y\n貨還沒到", "了解。"),
    ("wrote zh", "我们再等等。\n\n在 2026年3月2日 上午9:00，王先生 写道：\n> 货还没到", "我们再等等。"),
    ("signature dashes", "The lids do not fit.\n-- \nAnna Smith\nBuyer", "The lids do not fit."),
    ("mobile", "Where is my order?\n\nSent from my iPhone", "Where is my order?"),
    ("zh mobile", "货呢？\n\n发自我的iPhone", "货呢？"),
    ("disclaimer", "Please call me.\n\nThis email and any attachments are confidential and intended solely for the addressee.", "Please call me."),
]


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_newest_part(name, text, expected):
    assert newest_part(text) == expected


def test_bare_forward_keeps_the_forwarded_text():
    text = "---------- Forwarded message ---------\nFrom: Buyer <b@x.test>\nDate: Mon\nSubject: late\nTo: us\n\nPO 5 is two weeks late."
    assert newest_part(text) == "PO 5 is two weeks late."


def test_complaint_only_in_quote_is_gone():
    text = "Thank you, the credit note is fine for us.\n\nOn Mon, Ann wrote:\n> 40% of the chairs are broken, we want compensation"
    assert "broken" not in newest_part(text)
