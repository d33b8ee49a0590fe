"""One typed settings object for the whole worker.

Everything an admin can change lives in `config/triage.toml` (see `config/triage.example.toml`, which
documents every key). Secrets never live in that file: a source names the environment variable that
holds its password, so the file can be shared and versioned safely.
"""
from __future__ import annotations

import os
import tomllib
from datetime import date
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATHS = ("config/triage.toml",)
SEVERITIES = ("low", "medium", "high", "critical")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the key and what to do."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str  # "maildir" or "imap"
    path: str = ""  # maildir: a Maildir or a folder of .eml files
    host: str = ""
    port: int = 0
    security: str = "ssl"  # ssl | starttls | plain (plain only on loopback)
    username: str = ""
    password_env: str = ""
    folders: tuple[str, ...] = ("INBOX",)
    processed_keyword: str = "$Triaged"
    ca_file: str = ""
    batch_size: int = 200
    auth: str = "password"  # password | xoauth2
    oauth_token_command: str = ""  # its stdout is the token (or JSON with access_token, expires_in)
    oauth_token_lifetime_seconds: int = 3000  # when the command prints a bare token
    oauth_refresh_margin_seconds: int = 300  # fetch a new token this long before the old one expires
    oauth_tenant: str = ""  # Microsoft 365 client-credentials flow (msal)
    oauth_client_id: str = ""
    oauth_client_secret_env: str = ""
    oauth_scope: str = "https://outlook.office365.com/.default"
    idle: bool = True  # IMAP IDLE between polls where the server has it
    reconnect_attempts: int = 5
    reconnect_backoff_seconds: float = 1.0  # doubles per attempt, at most 60 s
    start: str = "all"  # first run: "all" reads the folder's existing mail, "now" only mail arriving later
    backfill_since: str = ""  # YYYY-MM-DD: only mail received on or after this day (IMAP SEARCH SINCE)

    def password(self) -> str:
        """Read the secret at connect time so it is never stored on the object or logged."""
        if not self.password_env:
            raise ConfigError(f"sources.{self.name}.password_env is not set: name the environment variable holding the password")
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"environment variable {self.password_env} (sources.{self.name}.password_env) is not set")
        return value

    def __repr__(self) -> str:  # keep secrets' names but never values out of logs
        return f"SourceConfig(name={self.name!r}, kind={self.kind!r}, host={self.host!r}, path={self.path!r})"


@dataclass(frozen=True)
class SlaConfig:
    """Hours until the customer must have our next answer, per severity."""

    low: float = 48
    medium: float = 24
    high: float = 8
    critical: float = 4
    key_account_factor: float = 0.5  # key-account customers get this share of the time
    silent_days: float = 5  # an open high/critical case whose customer has not answered our reply for this long is flagged

    def hours(self, severity: str, key_account: bool = False) -> float:
        base = float(getattr(self, severity, self.medium)) if severity in ("low", "medium", "high", "critical") else float(self.medium)
        return base * (self.key_account_factor if key_account else 1.0)


@dataclass(frozen=True)
class RoutingConfig:
    """Who works a case: a department or person per category (names as staff know them)."""

    late_delivery: str = ""
    wrong_goods: str = ""
    damage: str = ""
    quality: str = ""
    billing: str = ""
    unreachable_staff: str = ""
    default: str = "customer service"

    def owner(self, category: str | None) -> str:
        return (getattr(self, category, "") if category else "") or self.default


@dataclass(frozen=True)
class SmtpConfig:
    """How approved replies leave. Nothing is sent without a person's approval recorded first."""

    host: str = ""
    port: int = 0
    security: str = "starttls"  # ssl | starttls | plain (plain only on loopback)
    username: str = ""
    password_env: str = ""
    from_address: str = ""
    ca_file: str = ""

    def password(self) -> str:
        if not self.password_env:
            return ""
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"environment variable {self.password_env} (smtp.password_env) is not set")
        return value


@dataclass(frozen=True)
class ReviewConfig:
    """Where drafts wait for staff in their own mail client, and where sent copies go."""

    mailbox: str = ""  # name of an imap source; empty: drafts stay in triage only
    drafts_folder: str = "Drafts"
    sent_folder: str = "Sent"


@dataclass(frozen=True)
class CompanyConfig:
    name: str = "Our company"
    own_addresses: tuple[str, ...] = ()
    own_domains: tuple[str, ...] = ()
    signature_en: str = "Customer Service"
    signature_zh: str = "客户服务部"
    key_account_domains: tuple[str, ...] = ()
    # List-Id values of our own group addresses (a shared inbox that is a Google Group or a list):
    # mail through them is from customers, not bulk mail.
    own_list_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///data/triage.db"
    data_dir: str = "data"
    model_path: str = "models/triage-model.joblib"
    poll_interval_seconds: int = 60
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 15 * 1024 * 1024  # per attachment stored under data_dir/attachments
    max_attachments_per_message_bytes: int = 25 * 1024 * 1024
    sources: tuple[SourceConfig, ...] = ()
    company: CompanyConfig = field(default_factory=CompanyConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    base_dir: str = "."

    def resolve(self, path: str) -> Path:
        """Relative paths in the config are relative to the project folder, not the shell's cwd."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def resolved_database_url(self) -> str:
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and not self.database_url.startswith(prefix + "/"):
            rest = self.database_url[len(prefix):]
            if rest and rest != ":memory:":
                return prefix + str(self.resolve(rest).absolute())
        return self.database_url


def _take(section: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    if key not in section:
        return default
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key {where}.{key} must be a list of strings")
        return tuple(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"config key {where}.{key} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_unknown(section: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"unknown config key {where}.{unknown[0]}; see config/triage.example.toml for the keys")


def _build(cls: type, section: dict[str, Any], where: str, **fixed: Any) -> Any:
    defaults = cls()  # type: ignore[call-arg]
    allowed = {f.name for f in fields(cls)} - set(fixed)
    _check_unknown(section, allowed, where)
    kwargs = {}
    for f in fields(cls):
        if f.name in fixed:
            continue
        default = getattr(defaults, f.name)
        kind = tuple if isinstance(default, tuple) else type(default)
        kwargs[f.name] = _take(section, f.name, kind, where, default)
    return cls(**kwargs, **fixed)


def _source(raw: dict[str, Any], index: int) -> SourceConfig:
    where = f"sources[{index}]"
    if "name" not in raw:
        raise ConfigError(f"config key {where}.name is missing")
    if raw.get("kind") not in ("maildir", "imap"):
        raise ConfigError(f"config key {where}.kind must be 'maildir' or 'imap', got {raw.get('kind')!r}")
    allowed = {f.name for f in fields(SourceConfig)}
    _check_unknown(raw, allowed, where)
    kwargs: dict[str, Any] = {}
    for f in fields(SourceConfig):
        if f.name in raw:
            default = "" if f.default is MISSING else f.default
            kind = tuple if isinstance(default, tuple) else type(default)
            kwargs[f.name] = _take(raw, f.name, kind, where, default)
    src = SourceConfig(**kwargs)
    if src.kind == "maildir" and not src.path:
        raise ConfigError(f"config key {where}.path is missing: a maildir source needs a folder")
    if src.kind == "imap":
        if not src.host:
            raise ConfigError(f"config key {where}.host is missing: an imap source needs a server")
        if src.security not in ("ssl", "starttls", "plain"):
            raise ConfigError(f"config key {where}.security must be ssl, starttls or plain")
        if src.security == "plain" and src.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"config key {where}.security = 'plain' is only allowed for a loopback host")
        _check_imap_extras(src, where)
    return src


def _check_imap_extras(src: SourceConfig, where: str) -> None:
    if src.auth not in ("password", "xoauth2"):
        raise ConfigError(f"config key {where}.auth must be password or xoauth2")
    if src.auth == "xoauth2" and not (src.oauth_token_command or (src.oauth_tenant and src.oauth_client_id)):
        raise ConfigError(f"config key {where}.oauth_token_command is missing: auth = 'xoauth2' needs it, "
                          "or oauth_tenant and oauth_client_id for Microsoft 365")
    if src.start not in ("all", "now"):
        raise ConfigError(f"config key {where}.start must be all or now")
    if src.backfill_since:
        try:
            date.fromisoformat(src.backfill_since)
        except ValueError:
            raise ConfigError(f"config key {where}.backfill_since must be a date like 2026-01-01") from None
    if src.batch_size < 1 or src.reconnect_attempts < 1 or src.reconnect_backoff_seconds < 0:
        raise ConfigError(f"config key {where}.batch_size and reconnect_attempts must be at least 1")


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the config file named by `path`, $TRIAGE_CONFIG or config/triage.toml; defaults if none exists."""
    candidate = path or os.environ.get("TRIAGE_CONFIG")
    if candidate is None:
        for p in DEFAULT_CONFIG_PATHS:
            if Path(p).exists():
                candidate = p
                break
    if candidate is None:
        return Settings(sources=(SourceConfig(name="sample", kind="maildir", path="training_data/sample_mailbox"),))
    file = Path(candidate)
    if not file.exists():
        raise ConfigError(f"config file {file} does not exist; copy config/triage.example.toml to start")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {file} is not valid TOML: {e}") from e
    return settings_from_dict(raw, base_dir=str(file.resolve().parent.parent))


def settings_from_dict(raw: dict[str, Any], base_dir: str = ".") -> Settings:
    top = dict(raw)
    sources_raw = top.pop("sources", [])
    company_raw = top.pop("company", {})
    sla_raw = top.pop("sla", {})
    routing = _build(RoutingConfig, top.pop("routing", {}), "routing")
    smtp = _build(SmtpConfig, top.pop("smtp", {}), "smtp")
    review = _build(ReviewConfig, top.pop("review", {}), "review")
    if smtp.host and smtp.security not in ("ssl", "starttls", "plain"):
        raise ConfigError("config key smtp.security must be ssl, starttls or plain")
    if smtp.host and smtp.security == "plain" and smtp.host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("config key smtp.security = 'plain' is only allowed for a loopback host")
    if not isinstance(sources_raw, list):
        raise ConfigError("config key sources must be an array of tables: [[sources]]")
    sources = tuple(_source(s, i) for i, s in enumerate(sources_raw))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError("config key sources[].name must be unique")
    company = _build(CompanyConfig, company_raw, "company")
    sla = _build(SlaConfig, sla_raw, "sla")
    settings = _build(Settings, top, "(top level)", sources=sources, company=company, sla=sla, routing=routing,
                      smtp=smtp, review=review, base_dir=base_dir)
    if review.mailbox and review.mailbox not in names:
        raise ConfigError(f"config key review.mailbox names {review.mailbox!r}, which is not one of the sources")
    if settings.poll_interval_seconds < 1:
        raise ConfigError("config key poll_interval_seconds must be at least 1")
    return settings
