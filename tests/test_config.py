"""Config errors name the key and what to do."""
from __future__ import annotations

import pytest

from triage.config import ConfigError, load_settings, settings_from_dict


def test_example_config_loads(tmp_path):
    from conftest import ROOT

    s = load_settings(ROOT / "config" / "triage.example.toml")
    assert s.sources[0].kind == "maildir"
    assert s.resolve(s.sources[0].path).is_dir()
    assert s.sla.hours("critical") < s.sla.hours("low")


@pytest.mark.parametrize("raw,key", [
    ({"poll_interval_seconds": "often"}, "poll_interval_seconds"),
    ({"colour": 1}, "colour"),
    ({"sla": {"critical": "soon"}}, "sla.critical"),
    ({"sources": [{"name": "a", "kind": "pop3"}]}, "sources[0].kind"),
    ({"sources": [{"name": "a", "kind": "imap"}]}, "sources[0].host"),
    ({"sources": [{"name": "a", "kind": "imap", "host": "mail.example.com", "security": "plain"}]}, "sources[0].security"),
    ({"sources": [{"name": "a", "kind": "maildir"}]}, "sources[0].path"),
    ({"company": {"own_addresses": "me@x"}}, "company.own_addresses"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError) as e:
        settings_from_dict(raw)
    assert key in str(e.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="triage.example.toml"):
        load_settings(tmp_path / "nope.toml")


def test_password_comes_from_the_environment(monkeypatch):
    s = settings_from_dict({"sources": [{"name": "a", "kind": "imap", "host": "127.0.0.1", "security": "plain",
                                         "password_env": "MY_PW"}]})
    monkeypatch.delenv("MY_PW", raising=False)
    with pytest.raises(ConfigError, match="MY_PW"):
        s.sources[0].password()
    monkeypatch.setenv("MY_PW", "pw")
    assert s.sources[0].password() == "pw"


def test_progress_bar_draws_from_progress_events():
    import io
    import logging

    from triage.log import ProgressBar, event

    out = io.StringIO()
    logger = logging.getLogger("triage.test-progress")
    logger.setLevel(logging.INFO)
    handler = ProgressBar(out)
    logger.addHandler(handler)
    try:
        event(logger, "imap_progress", done=200, total=800)
        event(logger, "imap_progress", done=800, total=800)
        event(logger, "received", key="x")  # other events draw nothing
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "200/800" in text and text.endswith("800/800\n") and "#" * ProgressBar.WIDTH in text
