"""Numbers written as words, in English (spaCy Matcher) and Chinese (numeral parser)."""
from __future__ import annotations

import pytest

from triage.nlp.extract import extract
from triage.nlp.signals import find_signals
from triage.nlp.spelled_numbers import chinese_number, english_number, english_quantities


@pytest.mark.parametrize("words, value", [
    ("three", 3), ("twenty-five", 25), ("two hundred", 200), ("one hundred and twenty", 120), ("a dozen", 12),
    ("twelve hundred", 1200), ("three thousand five hundred", 3500),
])
def test_english_number_words(words, value):
    assert english_number(words.split()) == value


@pytest.mark.parametrize("text, value", [
    ("三十", 30), ("两百五十", 250), ("一千二", 1200), ("十二", 12), ("一百零五", 105), ("三万", 30000), ("五", 5),
])
def test_chinese_numerals(text, value):
    assert chinese_number(text) == value


def test_quantities_and_shares_in_words():
    quantities, shares = english_quantities("Two of the five pallets came crushed and a dozen broken bottles")
    assert (12.0, "bottles") in quantities and shares == [40.0]
    assert english_quantities("three out of ten boxes")[1] == [30.0]
    assert english_quantities("nearly a third of the order is unusable")[1] == [33.0]
    assert english_quantities("I called three times, no answer") == ([], [])


def test_a_share_in_words_is_a_big_share_signal():
    """LABELS.md: a fifth or more of the order is high, however the share is written."""
    for text in ("Two of the five pallets arrived crushed.", "五箱中有两箱破了", "收到 500 件，其中 120 件不良"):
        assert "big_share" in {s.name for s in find_signals(text, extract(text))}, text
    assert "big_share" not in {s.name for s in find_signals("one of the 240 units", extract("one of the 240 units"))}


def test_chinese_quantities_in_words_but_not_the_article_one():
    ex = extract("三十箱货湿了，还有两百个杯子碎了。一个问题是包装。")
    assert [(q.value, q.unit) for q in ex.quantities] == [(30.0, "箱"), (200.0, "个")]
