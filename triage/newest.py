"""Cut a message body down to its newest part: what this sender wrote now.

LABELS.md makes the newest part the only text that counts, so quoted threads and signatures must go
before anything is classified. Mail clients mark the start of a quote in many ways; each pattern
below names a real client convention (English and Chinese). The first marker found ends the newest
part. A marker in the very first lines is ignored when nothing would remain (a pure forward keeps
the forwarded text, which is then the only thing the sender gave us).

mailgun's talon was measured against tests/test_newest.py and not used: it finds no Chinese
reply headers (发件人:/寄件者:/写道：), keeps Chinese signatures, and pins an old scikit-learn.
"""
from __future__ import annotations

import re

# Outlook writes these in the reader's language: German, Dutch, French, Spanish, Portuguese, Italian, Polish too.
_HEADER_FIELD = (r"(from|sent|to|cc|subject|date|reply-to|von|gesendet|an|betreff|datum|van|verzonden|aan|onderwerp|de|envoyé"
                 r"|objet|à|enviado( el)?|enviada( em)?|para|asunto|fecha|assunto|da|inviato|oggetto|od|wysłano|temat|发件人|發件人|寄件者|寄件人|收件人|收件者|发送时间|發送時間"
                 r"|寄件日期|日期|时间|時間|主题|主題|主旨|抄送|副本)\s*[:：]")

# A line that opens a quoted earlier mail.
_QUOTE_OPENERS = [
    # A dash-ruled line naming the quoted or forwarded mail: Outlook "-----Original Message-----", Foxmail/QQ
    # "---- Original ----" and "---- 原始邮件 ----", Gmail "---- Forwarded message ----", 163 "---- 转发邮件信息 ----".
    re.compile(r"^-{2,}.{0,40}(original( message)?|forwarded message|weitergeleitete nachricht|message transféré|ursprüngliche nachricht"
               r"|mensaje original|message d.origine|oorspronkelijk bericht|messaggio originale|mensagem original|wiadomość oryginalna"
               r"|原始邮件|原始郵件|原始信件|原邮件|原郵件|邮件原文|郵件原文|转发邮件|轉寄郵件|轉發郵件|转发的邮件|已转发邮件"
               r"|已轉寄郵件|轉寄的郵件).{0,40}-{2,}\s*$", re.I),
    re.compile(r"^_{5,}\s*$"),  # Outlook web's rule line before From:/Sent:
    re.compile(r"^(begin forwarded message|forwarded message|开始转发的邮件|開始轉寄的郵件)\s*[:：]", re.I),
    re.compile(r"^on\b.{0,200}\bwrote\s*:\s*$", re.I),
    re.compile(r"^-{2,}\s*on\b.{0,200}\bwrote\s*-{2,}\s*$", re.I),  # Zoho: "---- On Mon, 3 Mar ... wrote ----"
    re.compile(r"^.{0,160}(写道|寫道|於.{0,60}寫道)\s*[:：]\s*$"),  # Gmail/Apple/Thunderbird/163 in Chinese
    re.compile(r"^在\s?.{0,100}(写道|寫道)\s*[:：]?\s*$"),
    re.compile(r"^le .{0,200} a écrit\s*:\s*$", re.I),
    re.compile(r"^am .{0,200} schrieb .{0,100}:\s*$", re.I),
    # Spanish, Portuguese, Italian, Dutch, Polish clients: "El jue, 5 mar 2026 ... escribió:", "Em ... escreveu:".
    re.compile(r"^(el|em|il|op|dnia|w dniu)\b.{0,200}\b(escribió|escreveu|ha scritto|scrisse|schreef|napisał\(a\)|napisał|pisze)\s*:\s*$", re.I),
    # Danish, Norwegian, Swedish: "Den 28. okt. 2024 kl. 09.14 skrev Anna <a@b.dk>:", "... skrev:".
    re.compile(r"^(den|d\.|på|tor|fre|man|tir|ons|lør|søn)\b.{0,200}\bskrev\b.{0,120}:\s*$", re.I),
]
_WRAPPED_ON = re.compile(r"^on\b.{0,200}$", re.I)  # Gmail wraps "On ..., Name\n<addr> wrote:"
_FIELD_LINE = re.compile(r"^\s*[*_]*" + _HEADER_FIELD, re.I)
_FROM_LINE = re.compile(r"^\s*[*_]*(from|von|van|de|da|od|发件人|發件人|寄件者|寄件人)[*_]*\s*[:：]", re.I)
_SIGNATURE_OPENERS = [
    re.compile(r"^--\s*$"),
    re.compile(r"^(sent from my|sent from outlook|sent from yahoo|sent from mail for windows|sent with|sent via"
               r"|get outlook for|envoyé de mon|envoyé depuis|enviado desde|enviado do|inviato da|verzonden vanaf|von meinem|gesendet von|发自我的|發自我的|从我的|從我的|寄自我的|来自我的|來自我的"
               r"|发自网易邮箱|发自\s*outlook|发自手机|發自手機|来自\s*\S*\s*邮箱|企业邮箱\s*$)", re.I),
]
_DISCLAIMER = re.compile(
    r"^[*_\s]*(this (e-?mail|message|communication)( and any (files|attachments)( transmitted with it)?)? (is|are|may be|contains?|may contain)"
    r" (confidential|intended|privileged)|the information (contained )?in this (e-?mail|message)|confidentiality notice"
    r"|(legal )?disclaimer\s*[:：]|important notice\s*[:：]|免责声明|免責聲明|保密声明|保密聲明"
    r"|(本|此)(电子|電子)?(邮件|郵件|电邮|電郵|信件).{0,30}(保密|机密|機密|仅限|僅限|收件人)|(本|此)電子郵件)",
    re.I,
)

# Signature block: a valediction, or a short run of name / title / company / contact lines at the end.
_VALEDICTION = re.compile(
    r"^(best|kind|warm|warmest|many thanks|thanks( again| and (best )?regards)?|thank you|regards|best regards"
    r"|kind regards|warm regards|cheers|sincerely|yours( sincerely| faithfully| truly)?|br|b\.r\.|rgds|brgds"
    r"|best wishes|with (best )?regards|mit freundlichen grüßen|cordialement|此致|此致敬礼|敬礼|敬禮|祝好|顺祝商祺|順祝商祺"
    r"|顺颂商祺|順頌商祺|祝商祺|商祺|顺祝|順祝|谢谢|謝謝|多谢|多謝|感谢|感謝|祝工作顺利|祝工作順利)[\s,.!！，。、]*$",
    re.I,
)
_CONTACT = re.compile(
    r"(\b(tel|phone|mob|mobile|cell|fax|whats ?app|wechat|skype|email|e-mail|web|www|add|address)\b\.?\s*[:：.]"
    r"|电话|電話|手机|手機|传真|傳真|邮箱|郵箱|微信|地址|网址|網址|https?://|www\.|\S+@\S+\.\w+"
    r"|\+\d[\d\s()./-]{7,}\d|\(\d{2,4}\)\s?\d[\d\s-]{5,}\d)",
    re.I,
)
_COMPANY_OR_TITLE = re.compile(
    r"(\b(co\.?,? ?ltd|ltd|limited|inc|llc|gmbh|s\.?r\.?l|s\.?a\.?|b\.?v\.?|pty|corp|company|trading|import|export"
    r"|manager|director|purchas\w*|buyer|sales|sourcing|procurement|ceo|coo|cfo|owner|founder|assistant|department"
    r"|dept|head of|quality|qc|logistics|merchandiser|einkauf)\b"
    r"|有限公司|公司|集团|集團|贸易|貿易|经理|經理|总监|總監|主管|采购|採購|业务|業務|部门|部門|专员|專員|助理|总经理|總經理"
    r"|董事|厂|廠|商行)",
    re.I,
)
_SENTENCE_END = re.compile(r"[.?!。？！]$")
_MAX_SIGNATURE_LINES = 8


def _is_quote_start(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if not line:
        return False
    if any(p.match(line) for p in _QUOTE_OPENERS):
        return True
    if _WRAPPED_ON.match(line) and len(line) < 200:
        joined = line
        for nxt in lines[i + 1: i + 3]:
            joined += " " + nxt.strip()
            if re.search(r"wrote\s*:\s*$", joined, re.I):
                return True
        return False
    # An Outlook/Foxmail header block: "From:"/"发件人:" then at least one more "Field:" line.
    if _FROM_LINE.match(line):
        following = [x for x in lines[i + 1: i + 6] if x.strip()]
        return sum(bool(_FIELD_LINE.match(x)) for x in following) >= 1
    return False


def _cut_quotes(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for i, raw in enumerate(lines):
        stripped = raw.strip()
        has_text = any(k.strip() for k in kept)
        if _is_quote_start(lines, i):
            if has_text:
                break
            continue  # nothing above the marker: a bare forward; keep reading after its header block
        if stripped.startswith((">", "＞", "|>")):
            continue
        if not has_text and _FIELD_LINE.match(stripped):
            continue  # header lines of a bare forward
        if has_text and (any(p.match(stripped) for p in _SIGNATURE_OPENERS) or _DISCLAIMER.match(stripped)):
            break
        kept.append(raw.rstrip())
    return kept


def _signature_line(line: str) -> bool:
    """A line that could belong to a signature: short, and not a sentence."""
    s = line.strip()
    if not s:
        return True
    if _CONTACT.search(s) or _COMPANY_OR_TITLE.search(s):
        return len(s) <= 100
    if _SENTENCE_END.search(s) or len(s) > 40:
        return False
    cjk = sum(1 for ch in s if "\u4e00" <= ch <= "\u9fff")
    if cjk:
        return len(s) <= 12 and not re.search(r"[，,；;：:]", s)  # a name, not a clause
    return len(s.split()) <= 4 and not re.search(r"[,;:]\s*\w", s)


def _name_like(line: str) -> bool:
    """A person's name as signed: 1-4 capitalised words, or 2-4 Han characters (optionally with a title)."""
    s = line.strip()
    if re.fullmatch(r"[\u4e00-\u9fff]{2,4}(先生|小姐|女士|经理|經理)?", s):
        return True
    return bool(re.fullmatch(r"([A-Z][\w.'’-]*\s?){1,4}", s)) and not re.search(r"\d", s)


def _strength(line: str) -> int:
    s = line.strip()
    return 1 if s and (_CONTACT.search(s) or _COMPANY_OR_TITLE.search(s)) else 0


def _cut_signature(kept: list[str]) -> list[str]:
    """Drop a trailing signature: from a valediction, or a blank-separated block with contact/company lines."""
    n = len(kept)
    content = [i for i, line in enumerate(kept) if line.strip()]
    if len(content) < 2:
        return kept
    tail = content[-_MAX_SIGNATURE_LINES - 1:]
    for i in tail:  # a valediction followed only by signature-like lines
        if _VALEDICTION.match(kept[i].strip()) and all(_signature_line(kept[j]) for j in range(i + 1, n)):
            if any(kept[j].strip() for j in range(i)):
                return kept[:i]
    # No valediction: the last paragraph, if it is short and carries a company, title or contact line.
    start = max((i for i in range(n) if not kept[i].strip()), default=-1) + 1
    block = [line for line in kept[start:] if line.strip()]
    if (0 < start and 2 <= len(block) <= 6 and (_name_like(block[0]) or _strength(block[0]))
            and all(_signature_line(x) for x in block)
            and sum(_strength(x) for x in block) >= 1 and any(k.strip() for k in kept[:start])):
        return kept[:start]
    return kept


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def newest_part(text: str) -> str:
    """The sender's own new text: no `>` quotes, quoted headers, forwarded blocks, signature or disclaimer."""
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = _trim(_cut_quotes(lines))
    return "\n".join(_trim(_cut_signature(kept)))
