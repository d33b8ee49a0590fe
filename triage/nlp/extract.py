"""Pull references, quantities, amounts and the remedy asked for out of a newest part.

Patterns live in `resources/extract.toml` so that an analyst can add a new PO format without a code
change. Container numbers are kept only when their ISO 6346 check digit is right, which removes
most false hits on long alphanumeric codes.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from triage.nlp.spelled_numbers import CN_NUMERAL, chinese_number, english_quantities


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str


@dataclass(frozen=True)
class Amount:
    value: float
    currency: str


@dataclass(frozen=True)
class Extraction:
    order_numbers: tuple[str, ...] = ()
    bl_numbers: tuple[str, ...] = ()
    awb_numbers: tuple[str, ...] = ()
    tracking_numbers: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    quantities: tuple[Quantity, ...] = ()
    amounts: tuple[Amount, ...] = ()
    remedy: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    percentages: tuple[float, ...] = field(default=())


_CURRENCY = {
    "us$": "USD", "u.s.$": "USD", "$": "USD", "usd": "USD", "dollars": "USD", "美元": "USD", "美金": "USD",
    "eur": "EUR", "€": "EUR", "euro": "EUR", "euros": "EUR", "欧元": "EUR", "歐元": "EUR",
    "gbp": "GBP", "£": "GBP", "英镑": "GBP", "英鎊": "GBP",
    "rmb": "CNY", "cny": "CNY", "¥": "CNY", "元": "CNY", "人民币": "CNY", "人民幣": "CNY", "块钱": "CNY", "塊錢": "CNY",
    "nt$": "TWD", "ntd": "TWD", "twd": "TWD", "台币": "TWD", "台幣": "TWD", "新台币": "TWD", "新台幣": "TWD",
    "hk$": "HKD", "hkd": "HKD", "港币": "HKD", "港幣": "HKD",
    "aud": "AUD", "a$": "AUD", "cad": "CAD", "c$": "CAD", "jpy": "JPY", "日元": "JPY", "日圓": "JPY",
    "sgd": "SGD", "myr": "MYR", "inr": "INR",
}
# Rough rates to USD, only to judge "about USD 10,000 at stake" for severity; never shown as money.
USD_RATE = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "CNY": 0.14, "TWD": 0.031, "HKD": 0.128, "AUD": 0.66,
            "CAD": 0.73, "JPY": 0.0067, "SGD": 0.74, "MYR": 0.21, "INR": 0.012}
_UNIT = {"pc": "pcs", "piece": "pcs", "pieces": "pcs", "unit": "units", "set": "sets", "carton": "cartons",
         "ctn": "cartons", "ctns": "cartons", "box": "boxes", "pallet": "pallets", "plts": "pallets",
         "pair": "pairs", "roll": "rolls", "個": "个", "雙": "双", "條": "条", "張": "张", "櫃": "柜", "噸": "吨",
         "組": "组", "塊": "块", "顆": "颗"}
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_UNITS_OPT = r"\s*(?:[a-z]{1,8}|[件个個箱套台托双雙条條只支卷张張片包袋桶柜櫃盒组組把块塊颗顆])?"
# "40 of 200", "40 out of the 200 cartons", "200箱中有40箱", "200 件里 40 件": the share of the order affected.
_OF = re.compile(r"(\d[\d,]*)" + _UNITS_OPT + r"\s*(?:of|out of)\s*(?:the|our|all)?\s*(\d[\d,]*)", re.I)
_CN_OF = re.compile(r"(\d[\d,]*|" + CN_NUMERAL + ")" + _UNITS_OPT + r"\s*(?:中|里|裡|当中|當中|[，,]\s*其中)\s*(?:有|就有|竟有)?\s*(\d[\d,]*|"
                    + CN_NUMERAL + ")")
# 三十箱, 两百个: numerals in words. One (一个问题 "a problem") is left out: it is far more often an article.
_CN_QUANTITY = re.compile("(?P<value>" + CN_NUMERAL + ")(?P<unit>件|个|個|箱|套|台|托|双|雙|条|條|只|支|卷|张|張|片|包|袋|桶|柜|櫃|吨|噸|盒|组|組|把|块|塊|颗|顆)")
# A percentage next to these words is a payment term or a price, not a share of the goods affected.
_MONEY_TERMS = re.compile(r"(deposit|balance|advance|payment|t/t|tt\b|l/c|discount|off\b|tax|vat|duty|duties|interest|commission|"
                          r"margin|markup|price|increase|surcharge|定金|订金|訂金|尾款|预付|預付|付款|折|税|稅|关税|關稅|利息|佣金|涨价|漲價|价格|價格)", re.I)
_CN_FRACTION = re.compile(r"(一半|过半|過半|半数|半數|三分之一|四分之一|五分之一|大部分|全部)")


def lower_pattern(pattern: str) -> str:
    """The same regular expression for lower-cased text: literals and classes lower-cased, escapes
    (\\D, \\S, \\b ...) and group names left alone."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
        elif pattern.startswith(("(?P<", "(?P="), i):
            j = pattern.index(">" if pattern[i + 3] == "<" else ")", i)
            out.append(pattern[i:j + 1])
            i = j + 1
        else:
            out.append(pattern[i].lower())
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Rx:
    """A pattern from extract.toml. Those marked (?i) run, lower-cased, on lower-cased text: Python's
    matcher is two to six times slower with re.I. Spans are the same in both texts, so values are
    always read from the original (see `_value`)."""

    regex: re.Pattern[str]
    on_lower: bool

    @classmethod
    def of(cls, pattern: str) -> "_Rx":
        if pattern.startswith("(?i)"):
            return cls(re.compile(lower_pattern(pattern[4:])), True)
        return cls(re.compile(pattern), False)

    def finditer(self, text: str, lower: str):
        return self.regex.finditer(lower if self.on_lower else text)

    def search(self, text: str, lower: str):
        return self.regex.search(lower if self.on_lower else text)


def _value(m: re.Match[str], text: str, name: str = "value") -> str:
    return text[m.start(name):m.end(name)]


def _same_length_lower(text: str) -> str:
    """Lower case with every character kept in place ('İ'.lower() is two characters: left as is)."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


@lru_cache(maxsize=1)
def _patterns() -> dict:
    raw = tomllib.loads(resources.files("triage.resources").joinpath("extract.toml").read_text(encoding="utf-8"))
    compiled: dict = {"refs": {}, "remedy": {}}
    for kind, pats in raw["refs"].items():
        compiled["refs"][kind] = [_Rx.of(p) for p in pats]
    for kind in ("quantity", "amount", "date", "product"):
        compiled[kind] = [_Rx.of(p) for p in raw[kind]["patterns"]]
    for kind, pats in raw["remedy"].items():
        compiled["remedy"][kind] = [_Rx.of(p) for p in pats]
    return compiled


def iso6346_valid(code: str) -> bool:
    """Check a container number's last digit (ISO 6346), e.g. CSQU3054383."""
    code = code.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{3}[UJZ]\d{7}", code):
        return False
    values = {}
    n = 10
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if n % 11 == 0:
            n += 1
        values[ch] = n
        n += 1
    total = sum((values[c] if c.isalpha() else int(c)) * (2**i) for i, c in enumerate(code[:10]))
    return (total % 11) % 10 == int(code[10])


def _number(s: str) -> float | None:
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def _without_fragments(refs: list[str]) -> list[str]:
    """Two patterns often catch "4471" and "PO#4471" for one reference: keep the fuller one."""
    def key(v: str) -> str:
        return re.sub(r"[^0-9A-Za-z]", "", v).upper()

    kept: list[str] = []
    for v in refs:
        k = key(v)
        if any(k == key(w) for w in kept) or any(k != key(w) and k in key(w) for w in refs):
            continue
        kept.append(v)
    return kept


def _unique(items: list) -> tuple:
    seen: list = []
    for i in items:
        if i not in seen:
            seen.append(i)
    return tuple(seen)


_LABELS = {"po": "PO", "pos": "PO", "purchaseorder": "PO", "purchaseorders": "PO", "order": "Order", "orders": "Order",
           "ord": "Order", "contract": "Contract", "contracts": "Contract", "sc": "S/C", "s/c": "S/C",
           "salescontract": "S/C", "pi": "PI", "proforma": "PI", "proformainvoice": "PI", "invoice": "Invoice",
           "invoices": "Invoice", "inv": "Invoice", "s/o": "S/O", "shippingorder": "S/O", "do": "DO", "d/o": "DO",
           "deliveryorder": "DO", "booking": "Booking", "bookings": "Booking", "creditnote": "Credit note",
           "debitnote": "Debit note", "lc": "L/C", "l/c": "L/C", "letterofcredit": "L/C", "zam": "Zam.", "fv": "FV"}
_STOP_REFS = {"NO", "NUMBER", "THE", "IS", "AND", "FOR"}
# Codes shaped like order numbers that are standards, materials, periods or kinds of thing, not orders:
# "ISO-9001", "EN-71", "GB-4806", "FY-2026", "PVC-100".
_NOT_ORDER_PREFIXES = {
    "ISO", "EN", "GB", "GBT", "IEC", "UL", "ASTM", "RS", "USB", "DIN", "JIS", "BS", "AS", "CSA", "IP", "PM", "RAL",
    "COVID", "SGS", "CE", "FCC", "AISI", "SUS", "SS", "JB", "QB", "HG", "YY", "FDA", "HS", "AQL", "MIL", "SAE",
    "NEMA", "DN", "PN", "FY", "CW", "WK", "TEL", "FAX", "ROOM", "RM", "UNIT", "VAT", "GST", "TAX", "ID", "PP", "PE",
    "PVC", "PET", "HDPE", "LDPE", "ABS", "TPU", "TPE", "LED", "RGB", "HDMI", "DDR", "SKU", "ART", "ITEM", "MODEL",
    "TYPE", "SIZE", "COL", "CLR", "NR", "NO", "PAGE", "REV", "VER", "GMT", "UTC", "ETA", "ETD", "AMS", "ISF",
}
# More references after a labelled one: "POs 77120, 77121 and 77135", "invoices HL-2511-08, HL-2512-02".
_NEXT_REF = re.compile(r"\s*(?:,|，|、|/|&|\band\b|\bor\b|和|及|与|與)\s*(?:no\.?\s*|#\s*)?"
                       r"(?P<value>[A-Za-z]{0,6}(?:-[A-Za-z0-9]{1,6}){0,2}[-/]?\d[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)", re.I)
_UNIT_AFTER = re.compile(r"\s*(?:pcs|pc\b|pieces|units?\b|sets?\b|cartons?|ctns?|boxes|pallets?|kgs?\b|tons?\b|%|"
                         r"[件个個箱套台托双雙条條只支卷张張片包袋桶吨噸米盒组組把块塊颗顆元])", re.I)


def _shape(v: str) -> str:
    return re.sub(r"[A-Za-z]", "A", re.sub(r"\d", "9", v))


def _following_refs(t: str, end: int, first: str) -> list[str]:
    """References listed after a labelled one, kept only when shaped like it and not a quantity."""
    out = []
    while (m := _NEXT_REF.match(t, end)) and _shape(m.group("value")) == _shape(first) \
            and not _UNIT_AFTER.match(t, m.end()):
        out.append(m.group("value"))
        end = m.end()
    return out


_PRODUCT_BEFORE = re.compile(r"(model|item|style|type|p/n|part|code|sku|art\.?|series|型号|型號|款号|款號|款|货号|貨號|料号|料號|"
                             r"色号|色號|批号|批號|品号|品號|编号|編號)\s*(?:no\.?|#)?\s*[:：(（]?\s*$", re.I)


def _bare_code_is_an_order(t: str, start: int, v: str) -> bool:
    """An unlabelled "HT-0301" is an order when shaped like one: four digits or more ("SS-0310"), or
    several parts ("SO-WS-317"), and not named as a model, style, part or batch just before it."""
    parts = v.split("-")
    if parts[0].upper() in _NOT_ORDER_PREFIXES:
        return False
    digits = max((len(x) for x in re.findall(r"\d+", v)), default=0)
    if digits < 4 and len(parts) < 3:
        return False
    return not _PRODUCT_BEFORE.search(t[max(0, start - 24):start])


def _labelled(label: str | None, v: str) -> str:
    if label and re.fullmatch(r"[\d\-/]+", v):
        return f"{_LABELS.get(label.lower().replace('.', '').replace(' ', ''), label)} {v}"
    return v


def _normalised(text: str) -> tuple[str, str]:
    t = unicodedata.normalize("NFKC", text or "")
    return t, _same_length_lower(t)


def _references(t: str, lower: str) -> dict[str, list[str]]:
    """Order, B/L, AWB, tracking and container numbers, each kind apart (orders not yet told from products)."""
    p = _patterns()
    refs: dict[str, list[str]] = {k: [] for k in p["refs"]}
    for kind, pats in p["refs"].items():
        for pat in pats:
            for m in pat.finditer(t, lower):
                v = _value(m, t).strip(".-/").replace(" ", "")
                if kind in ("container", "labelled_container"):
                    v = v.replace("-", "")  # "MSKU 771204-4" is MSKU7712044
                if len(v) < 3 or v.upper() in _STOP_REFS or not re.search(r"\d", v):
                    continue
                if kind == "container" and not iso6346_valid(v):
                    continue
                label = _value(m, t, "label") if "label" in m.re.groupindex and m.start("label") >= 0 else None
                if kind == "order" and not label and not _bare_code_is_an_order(t, m.start("value"), v):
                    continue
                if label and re.fullmatch(r"[\d,.]+", v) and _UNIT_AFTER.match(t, m.end("value")):
                    continue  # "order: 600 sets" is a quantity
                refs[kind].append(_labelled(label, v))
                if kind == "order" and label:
                    refs[kind] += [_labelled(label, w) for w in _following_refs(t, m.end("value"), v)]
    refs["container"] += [v.upper() for v in refs.pop("labelled_container", [])]
    containers = set(refs["container"])
    bls = [v for v in refs["bill_of_lading"] if v not in containers]
    others = set(bls) | containers | set(refs["awb"]) | set(refs["tracking"])
    return {"order": [v for v in refs["order"] if v not in others], "bill_of_lading": bls, "awb": refs["awb"],
            "tracking": refs["tracking"], "container": sorted(containers)}


def _products(t: str, lower: str) -> list[str]:
    return [_value(m, t).strip(".-/") for pat in _patterns()["product"] for m in pat.finditer(t, lower)
            if re.search(r"\d", m.group("value"))]


def _reference_extraction(refs: dict[str, list[str]], products: list[str], **rest) -> Extraction:
    # "model KT-170" is the product, not an order, though it has an order number's shape.
    orders = [v for v in refs["order"] if v not in products]
    return Extraction(
        order_numbers=_unique(_without_fragments(orders)),
        bl_numbers=_unique(refs["bill_of_lading"]),
        awb_numbers=_unique(refs["awb"]),
        tracking_numbers=_unique(refs["tracking"]),
        containers=_unique(refs["container"]),
        products=_unique(products),
        **rest,
    )


def references(text: str) -> Extraction:
    """Only the reference numbers (and products, which they are told apart from): what a subject
    line adds to a message. A third of the cost of `extract`."""
    t, lower = _normalised(text)
    return _reference_extraction(_references(t, lower), _products(t, lower))


def extract(text: str) -> Extraction:
    """Everything LABELS.md section 4 asks for that patterns can find. Pure."""
    t, lower = _normalised(text)
    return _reference_extraction(_references(t, lower), _products(t, lower), **_details(t, lower))


def extract_details(text: str) -> dict:
    """What `extract` finds besides references: quantities, amounts, remedy, dates, shares of the
    order. Only a complaint needs them (severity, the case, the draft), so understanding asks for
    them once the message is known to be one; `replace(references(text), **extract_details(text))`
    is `extract(text)`."""
    return _details(*_normalised(text))


def _details(t: str, lower: str) -> dict:
    p = _patterns()
    quantities = []
    for pat in p["quantity"]:
        for m in pat.finditer(t, lower):
            v = _number(m.group("value"))
            if v is None:
                continue
            unit = m.group("unit").lower()
            quantities.append(Quantity(v, _UNIT.get(unit, unit)))
    for m in _CN_QUANTITY.finditer(t):
        v = chinese_number(m.group("value"))
        if v is not None and v >= 2:
            quantities.append(Quantity(v, _UNIT.get(m.group("unit"), m.group("unit"))))
    worded_quantities, worded_shares = english_quantities(t)
    quantities += [Quantity(v, unit) for v, unit in worded_quantities]
    amounts = []
    for pat in p["amount"]:
        for m in pat.finditer(t, lower):
            v = _number(m.group("value"))
            if v is None:
                continue
            scale = (m.groupdict().get("scale") or "").lower()
            v *= {"k": 1000, "万": 10000, "萬": 10000}.get(scale, 1)
            cur = _CURRENCY.get(m.group("currency").lower(), m.group("currency").upper())
            amounts.append(Amount(v, cur))
    remedy = [kind for kind, pats in p["remedy"].items() if any(pt.search(t, lower) for pt in pats)]
    dates = [_value(m, t).strip() for pat in p["date"] for m in pat.finditer(t, lower)]
    percentages = [float(m.group(1)) for m in _PERCENT.finditer(t) if not _MONEY_TERMS.search(t[max(0, m.start() - 25): m.end() + 25])]
    for part, whole in _OF.findall(t):
        p_, w_ = _number(part), _number(whole)
        if p_ and w_ and 0 < p_ <= w_:
            percentages.append(round(100 * p_ / w_, 1))
    percentages += worded_shares
    for whole, part in _CN_OF.findall(t):
        p_, w_ = _number(part) or chinese_number(part), _number(whole) or chinese_number(whole)
        if p_ and w_ and 0 < p_ <= w_:
            percentages.append(round(100 * p_ / w_, 1))
    for m in _CN_FRACTION.findall(t):
        percentages.append({"一半": 50, "过半": 50, "過半": 50, "半数": 50, "半數": 50, "三分之一": 33,
                            "四分之一": 25, "五分之一": 20, "大部分": 60, "全部": 100}[m])
    return {"quantities": _unique(quantities), "amounts": _unique(amounts), "remedy": tuple(remedy),
            "dates": _unique(dates), "percentages": tuple(percentages)}




def usd_at_stake(ex: Extraction) -> float:
    return max((a.value * USD_RATE.get(a.currency, 0.0) for a in ex.amounts), default=0.0)
