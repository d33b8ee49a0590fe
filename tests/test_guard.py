"""The guard blocks admissions of fault, liability and compensation, in all three scripts."""
from __future__ import annotations

import pytest

from triage.guard import check_draft

BLOCKED = [
    ("en", "Honestly this one is on us, it was our mistake in packing.", "admits fault"),
    ("en", "We messed up the labels, sorry.", "admits fault"),
    ("en", "The damage was caused by our warehouse team.", "admits fault"),
    ("en", "We accept full responsibility for the delay.", "accepts liability"),
    ("en", "We will bear all costs of the re-inspection.", "accepts liability"),
    ("en", "Don't worry, we'll refund the whole amount.", "promises compensation"),
    ("en", "You will receive a full refund next week.", "promises compensation"),
    ("en", "We will issue a credit note for the broken pieces.", "promises compensation"),
    ("zh-Hans", "这次确实是我们的失误，非常抱歉。", "admits fault"),
    ("zh-Hans", "是我司搞错了型号。", "admits fault"),
    ("zh-Hans", "损失由我方承担。", "accepts liability"),
    ("zh-Hans", "我们会全额退款给您。", "promises compensation"),
    ("zh-Hans", "我们马上给您补发。", "promises compensation"),
    ("zh-Hant", "這是我們的疏失。", "admits fault"),
    ("zh-Hant", "本公司願意承擔所有損失。", "accepts liability"),
    ("zh-Hant", "我們一定賠償您的損失。", "promises compensation"),
]

ALLOWED = [
    "We are sorry to hear of the trouble this has caused.",
    "Thank you for your patience while we check the facts.",
    "Please send photos of the cartons and the delivery receipt.",
    "We will come back to you by Friday with our findings.",
    "给您带来困扰，我们深感抱歉。请提供照片。",
    "造成您的困擾，我們深感抱歉，我們會在週五前回覆。",
]


@pytest.mark.parametrize("lang,text,reason", BLOCKED, ids=[f"{b[0]}-{i}" for i, b in enumerate(BLOCKED)])
def test_blocked_phrasings(lang, text, reason):
    found = check_draft(text)
    assert found, text
    assert reason in {v.reason for v in found}
    # The offending phrase is shown as the draft spells it, so staff can find it.
    assert all(v.phrase in text for v in found)


@pytest.mark.parametrize("text", ALLOWED)
def test_regret_and_requests_pass(text):
    assert check_draft(text) == []
