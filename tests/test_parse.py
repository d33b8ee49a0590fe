"""Parsing real and hand-made mail: headers, charsets, attachments, auto-mail, and never a crash."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS
from mail import COMPLAINT_ZH, make_mail
from triage.charsets import decode_bytes
from triage.parse import ParseError, parse_message

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
