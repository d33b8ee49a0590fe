"""The rules understanding puts on top of the model: severity floors, the critical-signal safety net,
the too-little-text rule and the remedy asked for. Pure functions, checked without the model's say,
except the last tests, which read wording through the bundled model."""
from __future__ import annotations

import pytest

from triage.nlp.extract import extract
from triage.nlp.signals import Signal, find_signals
from triage.understand import _critical_about_an_order, _too_little_to_go_on, combine_severity


def _signals(text: str) -> list[Signal]:
    return find_signals(text, extract(text))


def test_money_at_stake_a_stopped_line_and_a_threat_to_leave_make_a_case_at_least_high():
    assert combine_severity("low", _signals("The wrong fabric costs us USD 48,000 to replace.")) == "high"
    assert combine_severity("medium", _signals("Our production line has stopped.")) == "high"
    assert combine_severity("low", _signals("If this happens again we will move our orders to another supplier.")) == "high"
    assert combine_severity("critical", _signals("Our production line has stopped.")) == "critical"  # never lowered


def test_other_high_signals_are_left_to_the_model():
    """A share of the order, a repeat or their customer's complaint weigh in the model, not as floors."""
    text = "This is the second time; 40 of 200 cartons arrived wet and our customer is complaining."
    assert {"big_share", "repeat"} <= {s.name for s in _signals(text)}
    assert combine_severity("medium", _signals(text)) == "medium"


def test_critical_conditions_are_a_floor():
    assert combine_severity("low", _signals("A child cut his hand on the edge of the toy.")) == "critical"


def test_a_critical_signal_about_one_of_our_orders_reaches_a_person():
    text = "PO 4471: a customer got an electric shock from the kettle body."
    assert _critical_about_an_order(_signals(text), extract(text), text)


def test_unless_the_sender_says_it_is_not_our_doing():
    text = "柜号 CSQU3054383 被海关随机布控查验了，文件都是齐的，跟你们没关系。"
    assert any(s.level == "critical" for s in _signals(text))
    assert not _critical_about_an_order(_signals(text), extract(text), text)
    # ...and without a named order there is nothing to tie the condition to.
    loose = "Saw in the news that a kettle brand had a recall."
    assert not _critical_about_an_order(_signals(loose), extract(loose), loose)


def test_too_little_text_is_never_a_complaint():
    hello = ("Saying Hello", 'This is a message just to say hello. So, "Hello".')
    assert _too_little_to_go_on(*hello, extract(hello[1]))
    assert _too_little_to_go_on("hi", "test", extract("test"))
    # A problem word or an order reference is enough to go on, however short.
    for subject, text in (("?", "Still not received."), ("", "PO 4471 pls check"), ("lids", "still nothing??"),
                          ("", "3 cartons crushed"), ("", "货呢"), ("", "杯子过期了")):
        assert not _too_little_to_go_on(subject, text, extract(text)), text
    # Longer messages are left to the model.
    longer = "Dear Anna, we visited the trade fair in Canton last week and met many new suppliers of garden furniture."
    assert not _too_little_to_go_on("fair", longer, extract(longer))


def test_remedy_asked_is_the_heads_view_with_patterns_lowering_the_bar():
    from triage.nlp.classifier import Prediction
    from triage.understand import asked_remedies

    pred = Prediction(True, 0.9, "damage", (), 0.8, "medium", (),
                      (("replacement", 0.92), ("refund", 0.4), ("discount", 0.1), ("compensation", 0.3)))
    # Sure head alone; a middling head only with a pattern's hit; a pattern's hit alone is not enough.
    assert asked_remedies(pred, ()) == ("replacement",)
    assert asked_remedies(pred, ("refund",)) == ("replacement", "refund")
    assert asked_remedies(pred, ("discount",)) == ("replacement",)
    # A remedy no head is trained for ("other") stays the patterns' call; no heads at all, patterns only.
    assert asked_remedies(pred, ("other",)) == ("replacement", "other")
    assert asked_remedies(Prediction(True, 0.9, "damage", (), 0.8, "medium", ()), ("refund",)) == ("refund",)


@pytest.mark.parametrize("subject, text, remedy", [
    ("灯坏了", "订单 HT-2201 的台灯有 30 台不亮，请安排换成好的。", "replacement"),
    ("late", "PO 4471 is three weeks late and we missed the season. We expect you to cover the air freight and our losses.",
     "compensation"),
])
def test_remedy_is_read_from_wording_the_patterns_do_not_know(model, subject, text, remedy):
    from triage.nlp.extract import extract
    from triage.understand import understand_text

    assert remedy not in extract(text).remedy
    u = understand_text(model, subject, text)
    assert u.is_complaint and remedy in u.extraction.remedy


def test_only_a_complaint_has_its_details_read(model):
    """References are read from every message; quantities, amounts, dates and remedy only from
    complaints (and from mail that joins a case), and then exactly as extract() reads them."""
    from dataclasses import replace

    from triage.understand import understand_text, with_details

    complaint = "PO 5521: 40 of the 200 vases arrived cracked, about USD 1,200. Please replace them."
    u = understand_text(model, "broken vases", complaint)
    assert u.is_complaint
    assert u.extraction == replace(extract(complaint), remedy=u.extraction.remedy)
    notice = "PO 5521 shipped today, 200 vases in 40 cartons, ETA 3 May."
    n = understand_text(model, "shipping advice", notice)
    assert not n.is_complaint
    assert n.extraction.order_numbers and not n.extraction.quantities
    assert with_details(n, notice).extraction == extract(notice)


@pytest.mark.parametrize("name, text, expected", [
    ("promise", "still waiting for the draft B/L, you said it would come Monday", True),
    ("promise", "he promised to call back and it never happened", True),
    ("promise", "说好的月底发货，到现在还没动静", True),
    ("promise", "你話上個禮拜寄，而家都未收到", True),
    ("promise", "please quote 500 pcs FOB Ningbo", False),
    ("problem", "the timer is out of order after one week", True),
    ("problem", "开关故障，按了没反应", True),
    ("problem", "thank you, the goods arrived in good order", False),
])
def test_wording_cues(name, text, expected):
    """The cues the detector weighs beside its n-grams, in both scripts (Traditional is read as Simplified)."""
    from triage.nlp.features import cue

    assert cue(name, text) is expected
