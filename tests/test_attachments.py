"""Saving attachments: no name from a mail reaches the file system as a path, and sizes are capped."""
from __future__ import annotations

import base64
from email import encoders
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from urllib.parse import quote

import pytest

from triage.attachments import MAX_NAME_BYTES, safe_name, save_attachments
from triage.parse import parse_message


def _mail(files: list[tuple[bytes, bytes]]) -> bytes:
    """files: (raw Content-Disposition value, data)."""
    msg = MIMEMultipart("mixed")
    msg["From"], msg["Subject"] = "a@b.test", "files"
    msg.attach(MIMEText("see attached", "plain", "utf-8"))
    for disposition, data in files:
        p = MIMEBase("application", "octet-stream")
        p.set_payload(data)
        encoders.encode_base64(p)
        p["Content-Disposition"] = disposition.decode("ascii", "surrogateescape")
        msg.attach(p)
    return msg.as_bytes()


def _named(name: str, data: bytes = b"data") -> tuple[bytes, bytes]:
    return b"attachment; filename*=utf-8''" + quote(name.encode("utf-8"), safe="").encode(), data


@pytest.mark.parametrize("hostile,expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\x\\y.exe", "y.exe"),
    ("/abs/path/report.pdf", "report.pdf"),
    ("..", "attachment"),
    ("evil\x00.jpg", "evil.jpg"),
    ("a\x07b\x1bc.txt", "a_b_c.txt"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1.tar.gz", "_com1.tar.gz"),
    ("trailing dots...", "trailing dots"),
    (".hidden", "hidden"),
    ('what?<is>*this|.doc', "what__is__this_.doc"),
    ("破损照片.jpg", "破损照片.jpg"),
])
def test_safe_name(hostile, expected):
    assert safe_name(hostile) == expected


def test_long_names_keep_their_extension():
    name = safe_name("装" * 300 + ".jpeg")
    assert name.endswith(".jpeg") and len(name.encode("utf-8")) <= MAX_NAME_BYTES


def test_hostile_names_never_leave_the_folder(tmp_path):
    folder = tmp_path / "data" / "m1"
    names = ["../../etc/passwd", "C:\\x\\y.exe", "evil\x00.jpg", "x" * 400 + ".pdf", "CON", "../", "photo.jpg",
             "PHOTO.jpg", "photo.jpg"]
    saved = save_attachments(_mail([_named(n) for n in names]), folder, 10_000, 10_000)
    assert len(saved) == len(names) and all(s.path for s in saved)
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == len(names)  # unique: nothing overwritten
    assert all(p.parent == folder for p in folder.iterdir())
    assert not (tmp_path / "etc").exists() and not list(tmp_path.glob("**/passwd*"))[1:]
    assert {"photo.jpg", "PHOTO-2.jpg", "photo-3.jpg"} <= set(files)
    assert all(len(f.encode()) <= MAX_NAME_BYTES + 8 for f in files)


def test_encoded_chinese_names(tmp_path):
    rfc2047 = b'attachment; filename="=?gb2312?B?' + base64.b64encode("破损照片".encode("gb2312")) + b'?=.jpg"'
    rfc2231 = b"attachment; filename*=gb2312''" + quote("朱镕基合同.pdf".encode("gb18030")).encode()
    saved = save_attachments(_mail([(rfc2047, b"1"), (rfc2231, b"2")]), tmp_path, 100, 100)
    assert [s.path.name for s in saved] == ["破损照片.jpg", "朱镕基合同.pdf"]
    assert saved[1].path.read_bytes() == b"2"


def test_size_limits_skip_with_a_reason(tmp_path):
    raw = _mail([_named("a.bin", b"a" * 60), _named("big.bin", b"b" * 200), _named("c.bin", b"c" * 50),
                 _named("d.bin", b"d" * 30)])
    saved = save_attachments(parse_message(raw), tmp_path, max_per_message=100, max_per_attachment=100)
    assert [(s.name, s.path is not None) for s in saved] == [("a.bin", True), ("big.bin", False), ("c.bin", False),
                                                              ("d.bin", True)]
    assert "per attachment" in saved[1].skipped and "per message" in saved[2].skipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "d.bin"]
    assert saved[1].to_json()["path"] is None and saved[1].size == 200


def test_existing_files_are_never_replaced(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"old")
    saved = save_attachments(_mail([_named("photo.jpg", b"new")]), tmp_path, 100, 100)
    assert (tmp_path / "photo.jpg").read_bytes() == b"old" and saved[0].path.name == "photo-2.jpg"


def test_unnamed_and_winmail_contents(tmp_path):
    msg = MIMEMultipart("mixed")
    msg["From"] = "a@b.test"
    img = MIMEBase("image", "png")
    img.set_payload(b"\x89PNG")
    encoders.encode_base64(img)
    msg.attach(img)
    saved = save_attachments(msg.as_bytes(), tmp_path, 100, 100)
    assert saved[0].path.name == "unnamed.png" and saved[0].is_photo
