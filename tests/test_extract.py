"""Extraction of references, quantities, amounts and remedies in both languages."""
from __future__ import annotations

import pytest

from triage.nlp.extract import extract, iso6346_valid, usd_at_stake
from triage.nlp.signals import find_signals, floor_level


@pytest.mark.parametrize("code,ok", [("CSQU3054383", True), ("MSKU1234565", True), ("TGHU8796313", True),
                                     ("CSQU3054384", False), ("ABC1234567", False)])
def test_iso6346_check_digit(code, ok):
    assert iso6346_valid(code) is ok


def test_english_references_and_numbers():
    ex = extract("PO#4471 and S/C No. HX25118: 450 pcs arrived instead of 500 pcs. B/L COSU6234567890, "
                 "container TGHU8796313 (and a typo TGHU8796314). AWB 176-12345675. We claim USD 3,420.00.")
    assert "PO 4471" in ex.order_numbers and "HX25118" in ex.order_numbers
    assert ex.bl_numbers == ("COSU6234567890",)
    assert ex.containers == ("TGHU8796313",)
    assert ex.awb_numbers == ("176-12345675",)
    assert [(q.value, q.unit) for q in ex.quantities] == [(450, "pcs"), (500, "pcs")]
    assert [(a.value, a.currency) for a in ex.amounts] == [(3420.0, "USD")]


def test_chinese_references_and_numbers():
    ex = extract("订单号 DS2026-118 少发了 20 箱，损失人民币 8万元。訂單 TW-5521 另有 3 台機器故障，NT$ 45,000。")
    assert set(ex.order_numbers) >= {"DS2026-118", "TW-5521"}
    assert (20.0, "箱") in [(q.value, q.unit) for q in ex.quantities]
    assert (3.0, "台") in [(q.value, q.unit) for q in ex.quantities]
    amounts = {(a.value, a.currency) for a in ex.amounts}
    assert (80000.0, "CNY") in amounts and (45000.0, "TWD") in amounts


def test_full_width_digits_are_read():
    ex = extract("订单ＰＯ－２０２６ 共 ５００ 件")
    assert (500.0, "件") in [(q.value, q.unit) for q in ex.quantities]


@pytest.mark.parametrize("text,remedy", [
    ("Please send replacements for the broken units", "replacement"),
    ("We want our money back", "refund"),
    ("請退款", "refund"),
    ("要求补发少的 20 箱", "reshipment"),
    ("we expect a discount on this order", "discount"),
    ("你们要赔偿我们的损失", "compensation"),
    ("We will send them back to you", "return"),
    ("請派技術人員來維修", "repair"),
])
def test_remedy(text, remedy):
    assert remedy in extract(text).remedy


def test_amount_at_stake_in_usd():
    assert usd_at_stake(extract("claim EUR 12,000")) > 10_000
    assert usd_at_stake(extract("损失 5000 元")) < 1_000


@pytest.mark.parametrize("text,level", [
    ("The kettle gave my wife an electric shock", "critical"),
    ("水壶漏电，客人被电到", "critical"),
    ("我們已委託律師處理", "critical"),
    ("Customs in Rotterdam seized the whole container", "critical"),
    ("海关扣货了，说标签不合格", "critical"),
    ("We have to recall 2,000 units from our stores", "critical"),
    ("Our production line has stopped because of the missing parts", "high"),
    ("客户已经取消订单了", "high"),
    ("This is the third time the same defect happens", "high"),
    ("We will look for another supplier", "high"),
    ("30% of the cartons are wet", "high"),
    ("A few mugs were chipped", None),
    # Words that look like signals but are not (each was once a false alarm):
    ("我们还没收到货", None),                       # 没收到 = not received, not 没收 = confiscated
    ("How do I set the pressure switch?", None),    # "the press"
    ("Newspaper is not packing material", None),
    ("PO TV-5531 is 8% short", None),
    ("漏油的我们挑出来销毁", None),                  # the customer discards bad pieces itself
    ("This batch has 30% deposit paid and 70% balance due", None),  # payment terms are not a share of the goods
])
def test_severity_signals(text, level):
    ex = extract(text)
    assert floor_level(find_signals(text, ex)) == level


def test_dates_as_written():
    ex = extract("Promised for 3 May 2026, then May 20th; ETA 2026-06-01. 原定5月3日出货，现在说6月1号。")
    assert set(ex.dates) >= {"3 May 2026", "May 20th", "2026-06-01", "5月3日", "6月1号"}


def test_product_or_model():
    assert "KT-17" in extract("The kettles, model KT-17, leak at the base").products
    assert "A-200" in extract("型号：A-200 的风扇异响").products


def test_tokenizer_pipelines_are_renewed_so_memory_cannot_grow_forever(monkeypatch):
    import triage.nlp.tokens as tk

    tk.tokens("first call builds the pipeline")
    before = tk._english()
    monkeypatch.setattr(tk, "_RENEW_AFTER", 3)
    monkeypatch.setattr(tk, "_calls", 0)
    for word in ("alpha", "beta", "gamma"):  # different texts: a repeated one is served from the cache
        tk.tokens(f"some new words every time {word}")
    assert tk._english() is not before
    assert tk.tokens("still tokenises the same") == ["still", "tokenises", "the", "same"]


def test_patterns_matched_on_lower_case_text_are_written_in_lower_case():
    """Signal and cue patterns run without re.I on lower-cased text (three times faster);
    an upper-case letter in one of them would silently never match."""
    import re
    import tomllib
    from importlib import resources

    def literal_upper(p: str) -> bool:
        return bool(re.search("[A-Z]", re.sub(r"\\[A-Za-z]", "", p.replace("(?i)", ""))))

    def load(name):
        return tomllib.loads(resources.files("triage.resources").joinpath(name).read_text(encoding="utf-8"))

    patterns = [p for s in load("signals.toml").values() for p in s["patterns"]]
    patterns += [p for pats in load("cues.toml").values() for p in pats]
    assert patterns
    assert [p for p in patterns if literal_upper(p)] == []


def test_signals_match_whatever_the_case_of_the_mail():
    from triage.nlp.extract import extract
    from triage.nlp.signals import find_signals

    names = {s.name for s in find_signals("OUR LAWYER WILL CONTACT YOU. Customs SEIZED the container.")}
    assert {"legal", "authority"} <= names
    assert "refund" in extract("PLEASE REFUND THE DIFFERENCE FOR PO 4471").remedy


def test_case_insensitive_patterns_find_what_re_i_finds():
    """(?i) extraction patterns run lower-cased on lower-cased text; the spans must be re.I's own."""
    import re

    from triage.nlp.extract import _patterns, _same_length_lower

    text = ("PO#A-4471/B and Order No. SO-2291; B/L COSU6123456789, AWB 176-12345675, DHL 1234567890, "
            "1,200 PCS, 35 Ctns, USD 4,250.50, Eur 300, 3rd MARCH 2025, Model KT-17X, İstanbul 40 Sets")
    lower = _same_length_lower(text)
    assert len(lower) == len(text)
    p = _patterns()
    rxs = [rx for pats in p["refs"].values() for rx in pats] + p["quantity"] + p["amount"] + p["date"] + p["product"]
    checked = 0
    for rx in rxs:
        if not rx.on_lower:
            continue
        raw = [pat for pat in _raw_patterns() if pat.startswith("(?i)") and lower_of(pat) == rx.regex.pattern][0]
        assert [m.span() for m in rx.finditer(text, lower)] == [m.span() for m in re.finditer(raw, text)]
        checked += 1
    assert checked >= 8


def _raw_patterns() -> list[str]:
    import tomllib
    from importlib import resources

    raw = tomllib.loads(resources.files("triage.resources").joinpath("extract.toml").read_text(encoding="utf-8"))
    pats = [p for v in raw["refs"].values() for p in v]
    for kind in ("quantity", "amount", "date", "product"):
        pats += raw[kind]["patterns"]
    return pats


def lower_of(pattern: str) -> str:
    from triage.nlp.extract import lower_pattern

    return lower_pattern(pattern[4:])


def test_values_keep_the_case_they_were_written_in():
    from triage.nlp.extract import extract

    ex = extract("Please check PO#KT-2291a and model AB-17x, delivered 3rd MARCH")
    assert "KT-2291a" in " ".join(ex.order_numbers)
    assert "AB-17x" in ex.products
    assert any("MARCH" in d for d in ex.dates)


def test_order_codes_as_trading_companies_write_them():
    from triage.nlp.extract import extract

    ex = extract("The zippers on PO BD-TR-0311 are wrong, and SO-WS-3317 had chipped colanders. "
                 "HT-0301 这单也有问题。合同编号 LS-WZ-2025-011 的变压器还没到。")
    assert {"BD-TR-0311", "SO-WS-3317", "HT-0301", "LS-WZ-2025-011"} <= set(ex.order_numbers)


def test_references_listed_after_one_label():
    from triage.nlp.extract import extract

    ex = extract("POs 77120, 77121 and 77135 are late; invoices HL-2511-08, HL-2512-02 are unpaid. 发票（No. 58219、No. 58876）")
    assert {"PO 77120", "PO 77121", "PO 77135", "HL-2511-08", "HL-2512-02"} <= set(ex.order_numbers)
    assert "PO 4500" not in extract("PO 4471, 4500 pcs short").order_numbers


def test_shapes_that_are_not_orders():
    from triage.nlp.extract import extract

    ex = extract("Tested to ISO-9001 and EN-71, model KT-1708 and 型号 GW-560 failed; go ahead with the order: 600 sets. "
                 "Style DJ-805 sells well. FY-2026 budget.")
    assert ex.order_numbers == ()


def test_a_container_said_to_be_one_is_kept_even_with_a_mistyped_check_digit():
    from triage.nlp.extract import extract

    assert extract("container TGHU8734120 arrived wet").containers == ("TGHU8734120",)
    assert extract("柜号 MSKU7712458 到港").containers == ("MSKU7712458",)
    assert extract("code TGHU8734120 in the list").containers == ()  # unlabelled: the check digit decides
    assert extract("code CSQU3054383 in the list").containers == ("CSQU3054383",)
    # The check digit set apart, as many forwarders write it: same container, checked the same way.
    assert extract("unit CSQU 305438-3 is at the CFS").containers == ("CSQU3054383",)
    assert extract("cntr MSKU 771204-4 wet").containers == ("MSKU7712044",)
    assert extract("unit CSQU 305438-5 is at the CFS").containers == ()  # wrong check digit, unlabelled


def test_house_air_waybills_and_spaced_tracking_numbers():
    from triage.nlp.extract import extract

    ex = extract("HAWB: SBL26PVG0412, MAWB 784-23391046. UPS tracking 1Z 84W 6E2 04 1182 7731; FedEx 7781 4402 9913")
    assert "SBL26PVG0412" in ex.awb_numbers and "784-23391046" in ex.awb_numbers
    assert "1Z84W6E20411827731" in ex.tracking_numbers and "778144029913" in ex.tracking_numbers


def test_who_bears_the_cost_is_compensation():
    from triage.nlp.extract import extract

    assert "compensation" in extract("Please confirm you will support the cost of recall.").remedy
    assert "compensation" in extract("重贴的人工费 600 元请你们承担。").remedy
    assert "compensation" in extract("We ask you to cover this labour, EUR 380.").remedy


@pytest.mark.parametrize("text", [
    "打包带也没收紧，破了快两百箱",
    "DH-0927 嗰批 43 吋電視一共 500 部，有 156 部屏幕有裂痕",
    "Yesterday the press on our line 2 stopped because the mould cracked",
    "the red sublimated panels bled into the white ones after washing",
    "麻烦先提供危险品包装证明和 SDS",
    "As I recall, you promised the goods by May",
    "PO 12345 and PO 12315 are both late",
    "the chocolate melted in the container",
    "The last order had the same carton problem",
    "开箱时有两面木框镜子的角有小擦伤",
    "椅背有明顯刮傷，寄補漆筆就好",
    "对账单里多了一项托盘费，以往也从来没收过",
    "The biosecurity inspection passed and the goods were released this morning",
    "Our inspector put the lot on hold until the remaining cartons are packed",
    "I will post the signed contract to you tomorrow",
    "quarantine inspection is next week, please send the fumigation certificate",
])
def test_trade_words_that_only_look_like_critical_signals(text):
    from triage.nlp.signals import find_signals

    assert [s for s in find_signals(text) if s.level == "critical"] == []


@pytest.mark.parametrize("text, name", [
    ("我们会找新闻媒体把这件事说清楚", "public"),
    ("If this is not settled we will go to the press.", "public"),
    ("Her finger was bleeding after the blade came loose", "injury"),
    ("海关没收了整批货", "authority"),
    ("We have to recall 1,100 units from the market", "recall"),
    ("Two dryers sparked and smelled burnt, one tripped the breaker", "injury"),
    ("three customers with a rash after using the cream", "injury"),
    ("the fire department came and the warehouse was evacuated", "injury"),
    ("We have pulled all 300 off the shelves", "recall"),
    ("有个小孩被毛刺割了手，我们已经停售", "injury"),
    ("明天我就打12345投诉你们", "authority"),
    # As people put the taxonomy's critical conditions without its words.
    ("several pouches were punctured, so the syringes are not sterile any more", "injury"),
    ("there are black marks around the socket where the plug sits", "injury"),
    ("my electrician touched the frame and got a shock", "injury"),
    ("装的时候手碰到外壳麻了一下", "injury"),
    ("插座那里一股焦糊味", "injury"),
    ("the port health officers placed the whole consignment on hold", "authority"),
    ("biosecurity found live insects in the container and ordered it fumigated", "authority"),
    ("再不清关这批货就要被海关拍卖了", "authority"),
    ("if this is not fixed I will post the whole story on your Alibaba page", "public"),
    ("再这样我就给你们差评", "public"),
])
def test_critical_signals_still_found(text, name):
    from triage.nlp.signals import find_signals

    assert name in {s.name for s in find_signals(text)}


@pytest.mark.parametrize("text, remedy", [
    ("if you can take the €31 off our next order I'd appreciate it", "refund"),
    ("麻烦核对一下，把多扣的那笔退回给我们。", "refund"),
    ("We'll send the EU ones back with our next consolidation.", "return"),
    ("多的 3,000 個我們沒有需要，請安排收回。", "return"),
])
def test_more_ways_of_asking_for_money_or_a_return(text, remedy):
    assert remedy in extract(text).remedy
