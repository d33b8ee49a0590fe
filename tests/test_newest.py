"""The newest part: what the sender wrote now, without quotes, quoted headers or signature."""
from __future__ import annotations

import json
import re

import pytest

from conftest import CORPUS, ROOT
from triage.newest import newest_part
from triage.parse import parse_message


CASES = [
    # --- English clients -------------------------------------------------------------------
    ("gmail", "Still no B/L for PO 1.\n\nOn Tue, 3 Mar 2026 at 10:14, Lily Wang <lily@x.test> wrote:\n> We shipped.\n", "Still no B/L for PO 1."),
    ("gmail wrapped", "Still waiting.\n\nOn Tue, 3 Mar 2026 at 10:14, Lily Wang\n<lily@x.test> wrote:\n> ok\n", "Still waiting."),
    ("angle quotes", "Agreed.\n> the cartons were wet\n> please advise", "Agreed."),
    ("interleaved quotes", "> Did the goods arrive?\nYes, but 12 cartons were wet.\n> Any photos?\nAttached.", "Yes, but 12 cartons were wet.\nAttached."),
    ("outlook desktop", "Thanks, received.\n\nFrom: Tom <t@x.test>\nSent: Monday, 2 March 2026 09:00\nTo: Sales\nSubject: damaged\n\nThe cartons were crushed!", "Thanks, received."),
    ("outlook html bold", "Noted with thanks.\n\n**From:** Tom <t@x.test>\n**Sent:** Monday, 2 March 2026 09:00\n**To:** Sales\n**Subject:** damaged\n\nThe cartons were crushed!", "Noted with thanks."),
    ("outlook web rule", "Please confirm the new ETD.\n\n________________________________\nFrom: Lily <l@x.test>\nSent: 02 March 2026 09:00\nTo: Tom\nSubject: ETD\n\nThe vessel is delayed, sorry.", "Please confirm the new ETD."),
    ("outlook mac", "OK for us.\n\nFrom: Lily Wang <l@x.test>\nDate: Monday, 2 March 2026 at 09:00\nTo: Tom <t@x.test>\nSubject: Re: samples\n\nThe samples are broken.", "OK for us."),
    ("original message", "Noted.\n-----Original Message-----\nFrom: a\nThe mugs are broken", "Noted."),
    ("original message spaced", "Fine.\n\n----- Original Message -----\nFrom: \"Ann\" <a@x.test>\nTo: <s@y.test>\nSent: Monday, March 02, 2026 9:00 AM\nSubject: late\n\nWhere is PO 9?", "Fine."),
    ("apple mail", "Yes please ship on Friday.\n\n> On 3 Mar 2026, at 10:14, Lily Wang <lily@x.test> wrote:\n> \n> Can we ship?", "Yes please ship on Friday."),
    ("apple mail unquoted header", "Thank you.\n\nOn 3 Mar 2026, at 10:14, Lily Wang <lily@x.test> wrote:\n\n> Your order shipped.", "Thank you."),
    ("thunderbird", "Received, thanks.\n\nOn 3/2/2026 9:00 AM, Lily Wang wrote:\n> the mugs are chipped", "Received, thanks."),
    ("gmail forward", "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Buyer <b@x.test>\nDate: Mon, 2 Mar 2026\nSubject: late\nTo: us\n\nPO 5 is two weeks late.", "FYI, see below."),
    ("apple forward", "Please handle.\n\nBegin forwarded message:\n\nFrom: Buyer <b@x.test>\nSubject: late\nDate: 2 March 2026\n\nThe goods are wet.", "Please handle."),
    ("signature dashes", "The lids do not fit.\n-- \nAnna Smith\nBuyer", "The lids do not fit."),
    ("mobile", "Where is my order?\n\nSent from my iPhone", "Where is my order?"),
    ("outlook mobile", "Call me please.\n\nGet Outlook for Android", "Call me please."),
    ("disclaimer", "Please call me.\n\nThis email and any attachments are confidential and intended solely for the addressee.", "Please call me."),
    ("german original message rule", "Bitte prüfen.\n\n-----Ursprüngliche Nachricht-----\nThe goods are broken.", "Bitte prüfen."),
    ("dutch outlook header", "Graag een nieuwe datum.\n\nVan: Jan de Vries <jan@x.nl>\nVerzonden: maandag 3 maart 2026 10:12\nAan: sales@y.com\nOnderwerp: PO 5521\n\nThe goods are broken.", "Graag een nieuwe datum."),
    ("french outlook header", "Merci, bien reçu.\n\nDe : Marie Dubois <m@x.fr>\nEnvoyé : lundi 3 mars 2026 10:12\nÀ : sales@y.com\nObjet : PO 5521\n\nCartons écrasés.", "Merci, bien reçu."),
    ("spanish outlook header", "Gracias.\n\nDe: Ana Ruiz <ana@x.es>\nEnviado el: lunes, 3 de marzo de 2026 10:12\nPara: sales@y.com\nAsunto: PO 5521\n\nLlegó roto.", "Gracias."),
    ("hk disclaimer", "請盡快回覆。\n\n本電郵及其附件可能載有機密資料，如閣下並非收件人，請即刪除。", "請盡快回覆。"),
    ("tw letter disclaimer", "麻煩確認。\n\n本信件可能包含機密資訊，非指定收件人請勿使用。", "麻煩確認。"),
    ("polish quote", "Dziękuję.\n\nW dniu 3.03.2026 o 10:12, Amy <amy@x.com> pisze:\n> The goods are broken.", "Dziękuję."),
    ("polish original", "Proszę o fakturę.\n\n-----Wiadomość oryginalna-----\nOd: Amy\nThe goods are broken.", "Proszę o fakturę."),
    ("zoho quote", "Thanks, noted.\n\n---- On Mon, 03 Mar 2026 10:12:00 +0800 Amy <amy@x.com> wrote ----\n\nThe goods are broken.", "Thanks, noted."),
    ("disclaimer may contain", "Kindly confirm.\n\nThis e-mail may contain confidential information. If you are not the intended recipient, delete it.", "Kindly confirm."),
    ("disclaimer notice", "We need the COA.\n\nCONFIDENTIALITY NOTICE: The information in this message is privileged.", "We need the COA."),
    ("best regards title company", "The handles are loose on 200 sets.\n\nBest regards,\nAnna Smith\nPurchasing Manager | Albers GmbH\nTel: +49 521 9876 410", "The handles are loose on 200 sets."),
    ("regards name", "Please send the invoice again.\n\nRegards,\nTom", "Please send the invoice again."),
    ("thanks name", "Can you check the weight?\n\nThanks,\nJoanna", "Can you check the weight?"),
    ("signature no valediction", "Please reply by Friday.\n\nAnna Smith\nAlbers Wohndesign GmbH\nwww.albers.test", "Please reply by Friday."),
    ("last short line kept", "We counted again.\n\n120 pcs broken", "We counted again.\n\n120 pcs broken"),
    ("order number line kept", "Please check.\n\nOrder no. 2026-03-0012", "Please check.\n\nOrder no. 2026-03-0012"),
    ("quality line kept", "We opened the cartons.\n\nQuality is bad", "We opened the cartons.\n\nQuality is bad"),
    ("yahoo", "Sure.\n\n    On Monday, March 2, 2026, 09:00:00 AM GMT+8, Lily <l@x.test> wrote:\n\n The goods are late.", "Sure."),
    # --- Simplified Chinese clients ------------------------------------------------------------
    ("foxmail zh", "好的，收到照片了。\n\n发件人: 王先生\n发送时间: 2026年3月2日 9:00\n收件人: 销售部\n主题: 货损\n\n货全部压坏了！", "好的，收到照片了。"),
    ("foxmail original", "已安排补发。\n\n------------------ Original ------------------\nFrom: \"王先生\"<w@qq.test>;\nDate: Mon, Mar 2, 2026 09:00 AM\nTo: \"sales\"<s@x.test>;\nSubject: 货损\n\n货全部压坏了！", "已安排补发。"),
    ("qq original", "请看附件。\n\n------------------ 原始邮件 ------------------\n发件人: x\n货到了，坏了一半", "请看附件。"),
    ("qq fullwidth colon", "收到，谢谢。\n\n------------------&nbsp;原始邮件&nbsp;------------------\n发件人：\"李\"<l@qq.test>;\n发送时间：2026年3月2日(星期一) 上午9:00\n收件人：\"sales\";\n主题：质量问题\n\n杯子全部裂了", "收到，谢谢。"),
    ("163 wrote", "我们再等等。\n\n在 2026-03-02 09:00:00，\"王先生\" <w@163.test> 写道：\n> 货还没到", "我们再等等。"),
    ("163 original", "明白。\n\n-----原始邮件-----\n发件人:\"王\" <w@163.test>\n发送时间:2026-03-02 09:00:00\n收件人:s@x.test\n主题:延误\n\n货还没到", "明白。"),
    ("gmail zh", "好的，我们周五发货。\n\n王先生 <w@x.test> 于2026年3月2日周一 上午9:00写道：\n\n> 请尽快发货", "好的，我们周五发货。"),
    ("apple mail zh", "谢谢确认。\n\n> 2026年3月2日 上午9:00，王先生 <w@x.test> 写道：\n>\n> 订单已发出", "谢谢确认。"),
    ("thunderbird zh", "收到。\n\n在 2026/3/2 9:00, 王先生 写道:\n> 箱子破了", "收到。"),
    ("outlook zh", "已转给仓库。\n\n发件人: 王先生 <w@x.test>\n发送时间: 2026年3月2日 星期一 9:00\n收件人: 销售部 <s@x.test>\n抄送: 李经理\n主题: 回复: 货损\n\n货全部压坏了！", "已转给仓库。"),
    ("zh forward gmail", "请处理一下。\n\n---------- 转发的邮件 ---------\n发件人：王先生 <w@x.test>\n日期：2026年3月2日周一 09:00\n主题：货损\n\n货全部压坏了", "请处理一下。"),
    ("zh mobile", "货呢？\n\n发自我的iPhone", "货呢？"),
    ("zh netease mobile", "请尽快回复。\n\n发自网易邮箱大师", "请尽快回复。"),
    ("zh signature name company", "这批货的唛头贴错了，请尽快安排重新贴标。\n\n王建国\n金丰装饰材料有限公司", "这批货的唛头贴错了，请尽快安排重新贴标。"),
    ("zh valediction", "请尽快安排补货。\n\n谢谢！\n张伟\n采购部经理\n电话：0755-12345678", "请尽快安排补货。"),
    ("zh regards", "附件是照片，请查收。\n\n此致\n敬礼\n李明", "附件是照片，请查收。"),
    ("zh disclaimer", "请确认发货日期。\n\n本邮件及其附件含有保密信息，仅限于收件人使用。", "请确认发货日期。"),
    # --- Traditional Chinese clients -----------------------------------------------------------
    ("outlook zh-Hant", "已收到，謝謝。\n\n寄件者: 陳小姐\n寄件日期: 2026年3月2日\n收件者: 業務\n主旨: 瑕疵\n\n整批都有瑕疵", "已收到，謝謝。"),
    ("zh-Hant original", "了解。\n-------- 原始郵件 --------\n寄件者: y\n貨還沒到", "了解。"),
    ("gmail zh-Hant", "我們明天再確認。\n\n陳小姐 <c@x.test> 於 2026年3月2日 週一 上午9:00 寫道：\n\n> 貨櫃延誤了", "我們明天再確認。"),
    ("apple zh-Hant mobile", "貨櫃到了嗎？\n\n從我的 iPhone 傳送", "貨櫃到了嗎？"),
    ("zh-Hant forward", "請處理。\n\n---------- 已轉寄郵件 ----------\n寄件者：陳小姐\n日期：2026年3月2日\n主旨：瑕疵\n\n整批都有瑕疵", "請處理。"),
    ("zh-Hant signature", "請儘快安排退貨。\n\n順頌商祺\n陳美玲\n台北貿易有限公司\n電話：02-2345-6789", "請儘快安排退貨。"),
    ("zh wrote", "我们再等等。\n\n在 2026年3月2日 上午9:00，王先生 写道：\n> 货还没到", "我们再等等。"),
    ("spanish mobile", "Two boxes came wet, pls check.\n\nEnviado desde mi iPhone", "Two boxes came wet, pls check."),
    ("german mobile", "Wann kommt die Ware?\n\nGesendet von meinem iPhone", "Wann kommt die Ware?"),
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


def test_cases_cover_every_script():
    names = [c[0] for c in CASES]
    assert len(CASES) >= 40
    assert sum("zh" in n for n in names) >= 15 and sum("zh-Hant" in n for n in names) >= 5


def _records() -> list[dict]:
    files = sorted((ROOT / "training_data" / "messages").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_quoted_lines_never_survive_in_labelled_messages():
    """Every labelled message: no `>` line, and no line quoted with `>`, is left in the newest part."""
    leaks = []
    for r in _records():
        newest = newest_part(r["text"])
        quoted = {line.lstrip(">＞ ").strip() for line in r["text"].splitlines() if line.lstrip().startswith((">", "＞"))}
        quoted = {q for q in quoted if len(q) > 15}
        if any(line.lstrip().startswith((">", "＞")) for line in newest.splitlines()) or any(q in newest for q in quoted):
            leaks.append(r["id"])
    assert leaks == []


_MARKER = re.compile(r"^(-{2,}\s*(original message|原始邮件|原始郵件|forwarded message|转发的邮件|轉寄的郵件)|on .{0,200}wrote:"
                     r"|el .{0,200}escribió:|发件人[:：]|寄件者[:：]|from:.*\n\s*(sent|date|to):)\s*",
                     re.I | re.M)


def test_non_complaints_lose_their_quoted_thread():
    """Non-complaints whose quoted part is a complaint: nothing after the quote marker reaches the newest part."""
    checked = 0
    for r in _records():
        if r["is_complaint"]:
            continue
        m = _MARKER.search(r["text"])
        if not m or not r["text"][: m.start()].strip():
            continue  # no quote, or a bare forward (its forwarded text is the message)
        above = {x.strip() for x in r["text"][: m.start()].splitlines()}
        # A line written above the marker too (a bounce names the address it quotes) proves nothing.
        quoted_lines = [x.strip() for x in r["text"][m.end():].splitlines() if len(x.strip()) > 20 and x.strip() not in above]
        newest = newest_part(r["text"])
        assert not any(q in newest for q in quoted_lines), r["id"]
        checked += 1
    assert checked >= 50


def test_labelled_messages_keep_their_references():
    """Removing signatures must not remove facts: every labelled reference found in the text stays."""
    lost = []
    for r in _records():
        newest = newest_part(r["text"])
        own = r["text"][: _MARKER.search(r["text"]).start()] if _MARKER.search(r["text"]) else r["text"]
        lost += [(r["id"], ref) for ref in r.get("refs", []) if ref in own and ref not in newest]
    assert lost == []


def _talon(name: str) -> bytes:
    path = CORPUS / "mailgun-talon" / name
    if not path.is_file():
        pytest.skip(f"{path} not in corpus")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["android.eml", "apple_mail.eml", "gmail.eml", "hotmail.eml", "iphone.eml",
                                  "sparrow.eml", "thunderbird.eml", "yahoo.eml", "outlook.eml"])
def test_talon_corpus_replies_lose_their_quote(name):
    """mailgun/talon's fixtures: the reply is kept, the quoted "Test"-thread is gone."""
    m = parse_message(_talon(name))
    assert m.newest.strip()
    quoted = [x.lstrip("> ").strip() for x in m.text.splitlines() if x.startswith(">") and len(x.strip()) > 8]
    assert not any(q in m.newest for q in quoted)
    assert not re.search(r"^(on .*wrote:|-+ ?original message)", m.newest, re.I | re.M)


@pytest.mark.parametrize("name", ["gmail.eml", "thunderbird.eml", "outlook.eml", "yahoo.eml", "apple_mail.eml"])
def test_talon_corpus_known_replies(name):
    assert parse_message(_talon(name)).newest == "Hello"


@pytest.mark.parametrize("header", [
    "El jue, 5 mar 2026 a las 18:40, Eva Chen <eva@x.test> escribió:",
    "Em qui., 5 de mar. de 2026 às 18:40, Eva Chen <eva@x.test> escreveu:",
    "Il giorno gio 5 mar 2026 alle 18:40 Eva Chen <eva@x.test> ha scritto:",
])
def test_other_languages_reply_headers(header):
    assert newest_part(f"Has it left?\n\n{header}\n> Ship date 30 March.") == "Has it left?"


def test_scandinavian_reply_header_ends_the_newest_part():
    text = ("Hej Lin,\n\nThe lids are fine now, thanks.\n\nAnna\n\n"
            "Den 28. okt. 2024 kl. 09.14 skrev Lin Wei <lin@example.cn>:\n> the cartons were crushed\n")
    newest = newest_part(text)
    assert newest.startswith("Hej Lin,\n\nThe lids are fine now, thanks.")
    assert "skrev" not in newest and "crushed" not in newest
