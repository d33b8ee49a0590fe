"""A keyword-rule classifier, scored beside the model so its gain is measured, not assumed.

It is what a careful person would write in an afternoon: complaint words, category words, and the
severity signals. If the trained model does not beat this on the same test split, it is not earning
its keep.
"""
from __future__ import annotations

import re

from triage.nlp.language import to_simplified
from triage.nlp.features import problem_cue
from triage.nlp.signals import find_signals, floor_level

_CATEGORY = {
    "late_delivery": r"(late|delay|not (yet )?(shipped|arrived|received)|still waiting|eta|vessel|overdue|延误|延迟|推迟|还没(到|发|出)|没收到|交期|船期|甩柜|逾期)",
    "wrong_goods": r"(wrong|instead of|mixed up|different (model|colou?r|size)|short[- ]shipped|shortage|missing (items|pieces|cartons)|not what we ordered|错发|发错|漏发|少发|不对|型号不对|颜色不对|短装)",
    "damage": r"(damag|broken|crushed|wet|torn|dented|cracked in transit|water|mould|mold|破损|损坏|压坏|受潮|湿|碎|变形|发霉)",
    "quality": r"(defect|faulty|not working|doesn't work|stopped working|quality|out of spec|tolerance|peel|rust|leak|瑕疵|不良|质量|品质|坏了|故障|不能用|生锈|漏|色差|尺寸不对)",
    "billing": r"(invoice|overcharg|charged|price|payment|refund|credit note|bank|surcharge|fee|发票|多收|价格|付款|货款|退款|费用|汇款|金额)",
    "unreachable_staff": r"(no (reply|response|answer)|nobody|ignored|not answer|unreachable|call(ed)? .* times|rude|没人|不回|联系不上|不接|没回复|已读不回|态度)",
}
_CATEGORY_RE = {k: re.compile(v, re.I) for k, v in _CATEGORY.items()}


def baseline_predict(subject: str, newest: str) -> tuple[bool, str | None, str]:
    text = to_simplified(f"{subject}\n{newest}")
    if not problem_cue(text):  # the same problem words the model sees as a cue (resources/cues.toml)
        return False, None, "none"
    scores = {k: len(p.findall(text)) for k, p in _CATEGORY_RE.items()}
    category = max(scores, key=lambda k: scores[k])
    if scores[category] == 0:
        category = "quality"
    floor = floor_level(find_signals(newest))
    return True, category, floor or "medium"
