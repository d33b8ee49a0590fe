"""Parsing real and hand-made mail: headers, charsets, attachments, auto-mail, and never a crash."""
from __future__ import annotations

import base64
import email
import json
import os
from email import encoders
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS
from mail import COMPLAINT_ZH, make_mail
from triage.automail import auto_reason
from triage.charsets import decode_bytes
from triage.parse import FORWARD_MARKER, ParseError, html_to_text, parse_message, rtf_to_text

CORPUS_FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCE.txt") if CORPUS.is_dir() else []


def test_corpus_is_available():
    if not CORPUS_FILES:
        if os.environ.get("CI"):
            pytest.fail(f"no corpus at {CORPUS}; CI has shared/ beside the checkout")
        pytest.skip(f"no corpus at {CORPUS}")
    assert len(CORPUS_FILES) > 100


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_file_parses_or_fails_with_a_reason(path: Path):
    raw = path.read_bytes()
    try:
        m = parse_message(raw)
    except ParseError as e:
        assert str(e)  # a reason a person can read
        return
    assert isinstance(m.text, str) and isinstance(m.newest, str)
    assert len(m.content_sha256) == 64
    assert m.auto in (None, "auto-reply", "bounce", "bulk")


def _corpus(name: str) -> bytes:
    hits = [p for p in CORPUS_FILES if p.name == name]
    if not hits:
        pytest.skip(f"{name} not in corpus")
    return hits[0].read_bytes()


def test_gb2312_subject_with_gbk_characters_decodes():
    m = parse_message(_corpus("mail_test_9"))
    assert m.subject.startswith("我把镜头拉近些，你们看看这个是什么")
    assert "\ufffd" not in m.subject


def test_japanese_iso_2022_jp_and_shift_jis_bodies_decode():
    assert "テストテスト" in parse_message(_corpus("example14.eml")).subject
    assert "あいうえお" in parse_message(_corpus("japanese_shift_jis.eml")).text


def test_corpus_bounces_are_recognised():
    m = parse_message(_corpus("delivery-status.anonymized.eml"))
    assert m.auto == "bounce"


def test_mislabelled_gb2312_body_keeps_every_character():
    # 镕 and 堃 are GBK-only: a strict GB2312 decode would replace them.
    raw = make_mail("朱镕基和王堃的订单 PO-1 还没到。", subject="订单", charset="gb18030")
    raw = raw.replace(b'charset="gb18030"', b'charset="gb2312"')
    m = parse_message(raw)
    assert "朱镕基和王堃的订单" in m.text and "\ufffd" not in m.text


def test_big5_label_read_as_hkscs():
    text = "貨櫃延誤，請儘快處理。"
    assert decode_bytes(text.encode("big5hkscs"), "big5") == text


def test_missing_charset_is_detected():
    text = "这批货的唛头全部贴错了，请尽快安排重新贴标，否则客户不收货。" * 3
    assert decode_bytes(text.encode("gb18030"), None) == text


def test_attachments_are_listed_with_photo_flag():
    m = parse_message(make_mail(COMPLAINT_ZH, photos=2))
    assert [a.name for a in m.attachments] == ["photo0.jpg", "photo1.jpg"]
    assert all(a.is_photo and a.content_type == "image/jpeg" and a.size > 0 for a in m.attachments)


def test_html_only_mail_becomes_text():
    raw = (b"From: a@b.test\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<html><body><p>The <b>cartons</b> were crushed.</p><script>x()</script></body></html>")
    m = parse_message(raw)
    assert "cartons" in m.text and "<b>" not in m.text


@pytest.mark.parametrize(
    "headers,subject,sender,expected",
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: order", "a@b.test", "auto-reply"),
        ({"X-Autoreply": "yes"}, "Re: order", "a@b.test", "auto-reply"),
        ({}, "自动回复: 订单", "a@b.test", "auto-reply"),
        ({}, "自動回覆：訂單", "a@b.test", "auto-reply"),
        ({"Precedence": "bulk"}, "Newsletter", "a@b.test", "bulk"),
        ({"List-Id": "<x.lists.test>"}, "News", "a@b.test", "bulk"),
        ({}, "Undeliverable: PO 1", "postmaster@b.test", "bounce"),
        ({"Return-Path": "<>"}, "Something", "a@b.test", "bounce"),
        ({}, "PO 1 is late", "a@b.test", None),
    ],
)
def test_auto_mail_kinds(headers, subject, sender, expected):
    m = parse_message(make_mail("text", subject=subject, sender=sender, headers=headers))
    assert m.auto == expected


@pytest.mark.parametrize("raw", [b"", b"   ", b"\x00\x01\x02", b"no header here at all"])
def test_garbage_is_a_parse_error(raw):
    with pytest.raises(ParseError):
        parse_message(raw)


# ---- charsets as real Chinese mail has them ----------------------------------------------------

def _mime(headers: bytes, body: bytes, ctype: bytes = b"text/plain; charset=gb2312") -> bytes:
    return (b"From: a@b.test\r\nTo: s@x.test\r\nMIME-Version: 1.0\r\n" + headers +
            b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)


def test_raw_8bit_gbk_subject_without_encoded_words():
    subject = "关于订单镕-PO88的质量投诉"
    raw = _mime(b"Subject: " + subject.encode("gb18030") + b"\r\n", "货物破损。".encode("gb18030"))
    m = parse_message(raw)
    assert m.subject == subject and "货物破损" in m.text


def test_raw_8bit_big5_subject_read_with_the_body_charset():
    subject = "貨櫃延誤投訴"
    raw = _mime(b"Subject: " + subject.encode("big5hkscs") + b"\r\n", "整批都有瑕疵。".encode("big5"),
                b"text/plain; charset=big5").replace(b"From: a@b.test", b"From: " + "陳小姐".encode("big5") + b" <c@x.test>")
    m = parse_message(raw)
    assert m.subject == subject and m.sender_name == "陳小姐"


def test_raw_8bit_utf8_subject():
    raw = _mime("Subject: 货物破损 PO 1\r\n".encode("utf-8"), b"x", b"text/plain; charset=utf-8")
    assert parse_message(raw).subject == "货物破损 PO 1"


@pytest.mark.parametrize("disposition,expected", [
    (b"attachment; filename*=utf-8''%E7%A0%B4%E6%8D%9F%E7%85%A7%E7%89%87.jpg", "破损照片.jpg"),
    (b"attachment; filename*=gb2312''" + quote("朱镕基.pdf".encode("gb18030")).encode(), "朱镕基.pdf"),  # 镕: GBK only
    (b"attachment; filename*0*=utf-8''%E7%A0%B4%E6%8D%9F; filename*1*=%E7%85%A7%E7%89%87.jpg", "破损照片.jpg"),
    (b'attachment; filename="=?gb2312?B?' + base64.b64encode("破损照片".encode("gb2312")) + b'?=.jpg"', "破损照片.jpg"),
    (b'attachment; filename="' + "破损照片.jpg".encode("gb18030") + b'"', "破损照片.jpg"),
    (b'attachment; filename="' + "瑕疵相片.jpg".encode("big5") + b'"', "瑕疵相片.jpg"),
])
def test_attachment_names_in_every_encoding(disposition, expected):
    charset = b"big5" if "瑕" in expected else b"gb2312"
    raw = (b"From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
           b"--BB\r\nContent-Type: text/plain; charset=" + charset + b"\r\n\r\n" + ("請看" if charset == b"big5" else "请看").encode(charset.decode()) +
           b"\r\n--BB\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: " +
           disposition + b"\r\n\r\n/9j/4AAQ\r\n--BB--\r\n")
    m = parse_message(raw)
    assert [a.name for a in m.attachments] == [expected]
    assert m.attachments[0].is_photo and m.payloads[0] == b"\xff\xd8\xff\xe0\x00\x10"


# Corpus messages whose right text is known (from the library test suites that ship them).
KNOWN_TEXT = [
    ("mail_test_9", "subject", "我把镜头拉近些，你们看看这个是什么"),
    ("raw_email_with_partially_quoted_subject.eml", "subject", '"漢字" mid "漢字" tail'),
    ("japanese_attachment_long_name.eml", "attachment", "かきくけこかきくけこかきくけこかきくけこかきくけこ.txt"),
    ("mail_test_1", "attachment", "ФНС_РФ558.zip"),
    ("issue-348.eml", "attachment", "Kelvinsong—Font_test_page_bold.pdf"),
    ("attachment_long_filename.eml", "attachment", "Buchungsbestätigung- Rechnung-Geschäftsbedingungen-Nr.B123-45"),
    ("attachment_long_filename.eml", "attachment", "02_A€àäąбيد@Z-0123456789"),
    ("raw_email_double_at_in_header.eml", "subject", "한국말로 하는 것"),
    ("example14.eml", "subject", "テストテスト"),
    ("bilingual-simple.eml", "text", "А эта линия по-русски"),
]


@pytest.mark.parametrize("name,where,expected", KNOWN_TEXT, ids=[f"{k[0]}:{k[1]}" for k in KNOWN_TEXT])
def test_corpus_known_text(name, where, expected):
    m = parse_message(_corpus(name))
    got = {"subject": m.subject, "text": m.text, "attachment": " | ".join(a.name for a in m.attachments)}[where]
    assert expected in got


# Truncated mid-character by the sending mailer: the cut bytes are the only U+FFFD allowed.
_FFFD_ALLOWED = {"russian-attachment-yahoo.eml"}


def test_no_replacement_character_where_bytes_were_decodable():
    bad = []
    for path in CORPUS_FILES:
        try:
            m = parse_message(path.read_bytes())
        except ParseError:
            continue
        shown = m.subject + m.sender_name + m.text + "".join(a.name for a in m.attachments)
        raw_fffd = path.read_bytes().count("\ufffd".encode()) + path.read_bytes().count(b"=EF=BF=BD")
        if "\ufffd" in shown and not raw_fffd and path.name not in _FFFD_ALLOWED:
            bad.append(path.name)
    assert bad == []


# ---- TNEF (winmail.dat) -----------------------------------------------------------------------

def _tnef_mail(tnef: bytes, body: str = "See attached.") -> bytes:
    msg = MIMEMultipart("mixed")
    msg["From"], msg["Subject"], msg["Message-ID"] = "Outlook User <o@x.test>", "tnef", "<t@x.test>"
    msg.attach(MIMEText(body, "plain", "utf-8"))
    part = MIMEBase("application", "ms-tnef")
    part.set_payload(tnef)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename="winmail.dat")
    msg.attach(part)
    return msg.as_bytes()


def test_winmail_dat_is_unpacked_into_its_attachments():
    m = parse_message(_tnef_mail(_corpus("two-files.tnef")))
    assert [a.name for a in m.attachments] == ["AUTHORS", "README"]
    assert all(a.inside == "winmail.dat" and a.size == len(p) > 0 for a, p in zip(m.attachments, m.payloads))
    assert b"AUTHORS" not in m.payloads[1][:0] and m.payloads[0]


def test_winmail_dat_photo_and_rtf_body():
    m = parse_message(_tnef_mail(_corpus("christmas.tnef"), body=""))
    assert "You've made this a Christmas to remember" in m.text
    photo = next(a for a in m.attachments if a.name.startswith("kitten"))
    assert photo.is_photo and photo.content_type == "image/jpeg" and photo.size == 375081


@pytest.mark.parametrize("name,text,files", [
    ("winmail.tnef", "111111111111", 2),
    ("long-filename.tnef", "temp. license for QARun 4.7", 1),
    ("body.tnef", "", 0),
    ("MAPI_ATTACH_DATA_OBJ.tnef", "bodødamene", 3),
    ("unicode-mapi-attr-name.tnef", "", 4),
])
def test_corpus_tnef_files_unpack(name, text, files):
    m = parse_message(_tnef_mail(_corpus(name), body=""))
    assert text in m.text
    assert len([a for a in m.attachments if a.inside == "winmail.dat"]) == files
    assert "winmail.dat" not in [a.name for a in m.attachments]


def test_broken_winmail_dat_stays_an_attachment():
    m = parse_message(_tnef_mail(b"\x78\x9f\x3e\x22garbage"))
    assert [a.name for a in m.attachments] == ["winmail.dat"]


def test_corpus_rich_text_outlook_mail():
    m = parse_message(_corpus("rich-text.eml"))
    assert "winmail.dat" not in [a.name for a in m.attachments] and m.has_photos


def test_chinese_rtf_body_uses_its_code_page():
    rtf = rb"{\rtf1\ansi\ansicpg936\deff0{\fonttbl{\f0 SimSun;}}\f0 \'bb\'f5\'ce\'ef\'c6\'c6\'cb\'f0\par}"
    assert rtf_to_text(rtf) == "货物破损"


# ---- forwarded messages -----------------------------------------------------------------------

def _forward(note: str) -> bytes:
    inner = make_mail(COMPLAINT_ZH, subject="货损投诉", sender="张伟 <zw@customer.test>", photos=1)
    outer = MIMEMultipart("mixed")
    outer["From"], outer["Subject"], outer["Message-ID"] = "Colleague <c@us.test>", "Fwd: 货损投诉", "<f@us.test>"
    if note:
        outer.attach(MIMEText(note, "plain", "utf-8"))
    part = MIMEBase("message", "rfc822")
    part.set_payload([email.message_from_bytes(inner)])
    outer.attach(part)
    return outer.as_bytes()


def test_forwarded_message_is_an_attachment_and_readable():
    m = parse_message(_forward("FYI, please handle."))
    names = [(a.name, a.content_type, a.inside) for a in m.attachments]
    assert names == [("货损投诉.eml", "message/rfc822", ""), ("photo0.jpg", "image/jpeg", "货损投诉.eml")]
    assert m.has_photos
    assert "锅盖的把手松动" in m.forwarded_text and FORWARD_MARKER in m.text
    assert m.text.index("FYI") < m.text.index("锅盖的把手松动")
    assert m.newest == "FYI, please handle."  # the colleague's note is what they wrote now
    assert email.message_from_bytes(m.payloads[0])["Subject"]


def test_bare_forward_newest_is_the_forwarded_text():
    m = parse_message(_forward(""))
    assert "锅盖的把手松动" in m.newest and "From:" not in m.newest


# ---- HTML -----------------------------------------------------------------------------------

def test_html_never_leaks_style_or_script():
    html = ("<html><head><title>T</title><style>p{color:red}</style></head><body><p>货物<b>破损</b>&nbsp;严重</p>"
            "<script>alert('x')</script><noscript>NOSCRIPT</noscript><!--[if mso]><style>.mso{}</style><![endif]-->"
            "<STYLE type='text/css'>.a{font:1px}</STYLE><p>Container TGHU8796313</p><style>unclosed{")
    text = html_to_text(html)
    assert "货物破损 严重" in text and "TGHU8796313" in text
    assert not any(bad in text for bad in ("color", "alert", "NOSCRIPT", "mso", "font", "unclosed", "<"))


def test_html_only_mail_quote_is_not_newest():
    body = ("<div>整批货都有瑕疵，请尽快处理。</div><div class=gmail_quote>陳小姐 &lt;c@x.test&gt; 於 2026年3月2日 週一 寫道："
            "<blockquote>貨已經出了</blockquote></div>")
    m = parse_message(_mime(b"Subject: x\r\n", body.encode("utf-8"), b"text/html; charset=utf-8"))
    assert m.newest == "整批货都有瑕疵，请尽快处理。"


def test_inline_images_are_recorded():
    raw = (b"From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=RR\r\n\r\n"
           b"--RR\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See <img src=cid:img1></p>\r\n"
           b"--RR\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"iVBORw0KGgo=\r\n--RR--\r\n")
    (att,) = parse_message(raw).attachments
    assert att.inline and att.content_id == "img1" and att.is_photo and att.size == 8


def test_to_json_has_no_payloads():
    m = parse_message(make_mail(COMPLAINT_ZH, photos=1))
    d = m.to_json()
    assert "payloads" not in d and "headers" not in d and d["attachments"][0]["name"] == "photo0.jpg"
    json.dumps(d)
    assert "payloads" not in repr(m)


# ---- auto-mail: corpus, and a person's mail is never auto -------------------------------------

@pytest.mark.parametrize("name,kind", [
    ("delivery-status.anonymized.eml", "bounce"), ("delivery-status2.txt", "bounce"), ("mailbox-full.eml", "bounce"),
    ("office365.eml", "bounce"), ("gmail-no-dns.eml", "bounce"), ("zed.eml", "bounce"), ("example_bounce.eml", "bounce"),
    ("issue-462.eml", "bounce"), ("multi_address_bounce2.eml", "bounce"), ("report_422.eml", "bounce"),
    ("msg_16.txt", "bounce"), ("disposition-notification.txt", "auto-reply"),
    ("disposition-notification.eml", "auto-reply"), ("mail_test_13", "bulk"), ("mail_test_5", "bulk"),
    ("1366671050@github.com.eml", "bulk"),
])
def test_corpus_automatic_mail(name, kind):
    assert parse_message(_corpus(name)).auto == kind


@pytest.mark.parametrize("headers,subject,sender", [
    ({}, "Re: Undeliverable goods in PO 5", "a@b.test"),
    ({}, "Returned mail is not the problem, the goods are", "a@b.test"),
    ({}, "Auto reply parts are broken", "a@b.test"),
    ({}, "Out of office chairs: 40 broken", "a@b.test"),
    ({}, "FW: Undeliverable: PO 1 — our complaint below", "a@b.test"),
    ({"X-Auto-Response-Suppress": "All"}, "PO 1 broken", "a@b.test"),  # helpdesk software sets it on typed mail
    ({"Auto-Submitted": "no"}, "PO 1 broken", "a@b.test"),
    ({"Return-Path": "<a@b.test>"}, "退信用证的问题", "a@b.test"),
    ({}, "关于退信的问题：货物破损", "a@b.test"),
])
def test_a_persons_mail_is_never_auto(headers, subject, sender):
    m = parse_message(make_mail("The goods are broken.", subject=subject, sender=sender, headers=headers))
    assert m.auto is None, auto_reason(m.headers, m.sender, m.subject, "text/plain")


def test_corpus_person_mail_is_not_auto():
    people = [p for p in CORPUS_FILES if p.parent.name == "mailgun-talon" and p.suffix == ".eml"]
    if not people:
        pytest.skip("no corpus (set TRIAGE_CORPUS)")
    assert all(parse_message(p.read_bytes()).auto is None for p in people)


# ---- never a crash ------------------------------------------------------------------------------

_MIME_BITS = st.sampled_from([
    b"From: a@b.test\r\n", b"Subject: =?gb2312?B?1tDOxA==?=\r\n", b"Content-Type: multipart/mixed; boundary=xx\r\n",
    b"Content-Type: text/plain; charset=big5\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b"\r\n", b"--xx\r\n", b"--xx--\r\n", b"=E4=B8=AD=\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E4%B8%AD.jpg\r\n", b"\xa4\xa4\xa4\xe5\r\n",
    b"Content-Type: message/rfc822\r\n", b"5Lit5paH\r\n", b"Message-ID: <x@y>\r\n", b"In-Reply-To: <<<>\r\n",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_MIME_BITS, st.binary(max_size=40)), max_size=40))
def test_mangled_mime_never_crashes(parts):
    try:
        m = parse_message(b"".join(parts))
    except ParseError:
        return
    assert isinstance(m.newest, str)


# Real messages of every shape (TNEF, forwards, reports, Chinese charsets) to mangle.
_SEEDS = [p for p in CORPUS_FILES if p.name in {
    "rich-text.eml", "mail_test_9", "attachment_message_rfc822.eml", "office365.eml", "gbk_charset.eml",
    "embedded_email.eml", "torture.eml", "attachment_long_filename.eml", "russian-attachment-yahoo.eml",
    "content_transfer_encoding_empty.eml", "multipart-related-mhtml.txt", "issue-544.eml"}]


@st.composite
def _mangled(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(_SEEDS)).read_bytes()[:60_000])
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(["flip", "cut", "dup", "insert"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del raw[at: at + draw(st.integers(1, 2000))]
        elif op == "dup":
            raw[at:at] = raw[at: at + draw(st.integers(1, 500))]
        else:
            raw[at:at] = draw(_MIME_BITS)
    return bytes(raw)


@pytest.mark.skipif(not CORPUS_FILES, reason="no corpus")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_mangled())
def test_mangled_corpus_messages_never_crash(raw):
    try:
        m = parse_message(raw)
    except ParseError as e:
        assert str(e)
        return
    assert isinstance(m.newest, str) and len(m.payloads) == len(m.attachments)
    json.dumps(m.to_json(), default=str)
