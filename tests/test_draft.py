"""Drafts: the customer's script, only the evidence still missing, a time, and nothing the guard forbids."""
from __future__ import annotations

from datetime import datetime

import pytest


from conftest import ROOT
from triage.dataset import examples, load_records, split
from triage.draft import make_draft, reply_subject
from triage.guard import check_draft
from triage.nlp.language import to_simplified
from triage.understand import understand_text

WHEN = datetime(2026, 11, 25, 16, 0)


def _draft(model, subject, text, photos=False, name="Anna"):
    u = understand_text(model, subject, text, has_attachments=photos, has_photos=photos)
    assert u.is_complaint, (subject, text)
    return u, make_draft(u, case_ref="C-2026-000042", subject=subject, customer_name=name, newest=text,
                         message_id="<m@x.test>", references=("<a@x.test>",), reply_by=WHEN, company="Hengda",
                         signature_en="Service", signature_zh="客服部")


def test_english_damage_draft_asks_for_photos_and_quantities(model):
    u, d = _draft(model, "Broken vases", "52 cartons of glass vases arrived smashed, the pallets collapsed. We need a solution.")
    assert d.language == "en"
    assert "Thank you" in d.body and "C-2026-000042" in d.body
    assert "photos" in d.body and "quantity affected" in d.body
    assert "order, invoice or B/L number" in d.body  # none was given
    assert "Wednesday 25 November 2026, 16:00" in d.body
    assert d.violations == ()


def test_photos_and_order_number_already_given_are_not_asked_again(model):
    _, d = _draft(model, "PO 77120 damaged", "PO 77120: 52 of 300 cartons arrived crushed, photos attached.", photos=True)
    assert "photos of the goods" not in d.body
    assert "order, invoice or B/L number" not in d.body
    assert "PO 77120" in d.body


def test_traditional_chinese_customer_gets_traditional_draft(model):
    _, d = _draft(model, "訂單 TY-0915 品質問題", "訂單 TY-0915 的電熱水壺有三成開關故障，按了沒反應，請盡快處理並回覆。", name="陳小姐")
    assert d.language == "zh-Hant"
    assert "感謝您的來信" in d.body and "TY-0915" in d.body
    assert to_simplified(d.body) != d.body  # really Traditional


def test_simplified_chinese_customer_gets_simplified_draft(model):
    _, d = _draft(model, "货不对版", "订单 JF-2611 到的货颜色全错了，我们订的是灰色，来的是米白色，请尽快换货。", name="王先生")
    assert d.language == "zh-Hans"
    assert "感谢您的来信" in d.body


def test_critical_safety_case_asks_to_stop_using(model):
    u, d = _draft(model, "Kettle shock", "Order KT-17: a customer got an electric shock from the kettle body. Two more reported the same.")
    assert u.severity == "critical"
    assert "stop using" in d.body


def test_subject_carries_case_reference_once():
    assert reply_subject("Broken vases", "C-2026-000001") == "Re: Broken vases [C-2026-000001]"
    assert reply_subject("Re: Broken vases [C-2026-000001]", "C-2026-000001") == "Re: Broken vases [C-2026-000001]"
    assert reply_subject("回复: 货损", "C-2026-000001") == "回复: 货损 [C-2026-000001]"


def test_drafts_for_every_held_out_complaint_pass_the_guard(model):
    """Whatever the model decides, the templates never produce a forbidden phrase."""
    _, test = split(load_records(ROOT / "training_data" / "messages"))
    complaints = [e for e in examples(test) if e.is_complaint][:150]
    assert complaints
    for e in complaints:
        u = understand_text(model, e.subject, e.newest)
        if not u.is_complaint:
            continue
        d = make_draft(u, case_ref="C-2026-000001", subject=e.subject, customer_name="", newest=e.newest,
                       message_id="", references=(), reply_by=WHEN, company="X", signature_en="S", signature_zh="S")
        assert check_draft(d.body) == [], (e.id, d.body)


@pytest.mark.parametrize("subject,text", [("Nuu", "Hi"), ("test", "testing 123"), ("", "Wut")])
def test_a_greeting_alone_is_not_a_complaint(model, subject, text):
    assert not understand_text(model, subject, text).is_complaint


def test_a_short_complaint_with_a_problem_word_still_counts(model):
    u = understand_text(model, "PO 5521", "PO 5521 was due on 3 May, still nothing. Where is my order?")
    assert u.is_complaint and u.category == "late_delivery"


def test_an_order_named_only_in_the_subject_is_the_cases_order(model):
    u, d = _draft(model, "Re: PO 4500012345 - short shipment",
                  "Two of the five pallets are missing. Our line stops on Friday without them.")
    assert u.extraction.order_numbers == ("PO 4500012345",)
    assert "PO 4500012345" in d.body and "order, invoice or B/L number" not in d.body
    assert any(s.name == "big_share" for s in u.signals)  # "two of the five", written in words
