"""Settings, read once from the environment into one typed, frozen object.

The embedded default (SQLite under instance/, sandbox bank, generated secrets) needs nothing but
Python. Production refuses to start with anything that is only safe on a laptop.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .money import MAX_AMOUNT

BANK_MODES = ("sandbox", "production")
LOCALES = ("ru", "ky", "en")
DEFAULT_LOCALE = "ru"

# Limits that protect the server from oversized input (bytes / counts).
MAX_REQUEST_BYTES = 1 * 1024 * 1024
MAX_FORM_MEMORY_BYTES = 256 * 1024
MAX_FORM_PARTS = 200

# Sessions: idle and absolute lifetimes (seconds).
SESSION_IDLE_SECONDS = 30 * 60
SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60

# Settings production refuses to start without (besides the checks in Settings.check).
PRODUCTION_REQUIRED = ("sms_gateway_token", "corebank_token", "mail_server", "redis_url")
# Absolute links in the sandbox when PUBLIC_BASE_URL is not set: where `make run` serves the app.
SANDBOX_PUBLIC_BASE_URL = "http://127.0.0.1:5000"

# Secrets that are generated into instance/ on the first run of the embedded default.
GENERATED_SECRETS = ("SECRET_KEY", "WEBHOOK_SECRET")


# The sender of e-mail written to instance/mail/ under `make run`; production must name a real one.
DEV_MAIL_SENDER = "MKASSA <no-reply@mkassa.local>"


class UnsafeConfiguration(RuntimeError):
    """Raised when production settings would put money or people at risk."""


# Fields that no environment variable of their own name sets (instance_path: MKASSA_INSTANCE_PATH).
NOT_FROM_ENV = frozenset({"instance_path", "testing", "extra"})


def env_name(field_name: str) -> str:
    """The environment variable of a Settings field: its name in capitals."""
    return field_name.upper()


def _parse(name: str, kind: Any, raw: str) -> Any:
    kind = getattr(kind, "__name__", kind)  # annotations are strings here (from __future__)
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise UnsafeConfiguration(f"{name} must be a whole number, not {raw!r}") from None
    return raw


@dataclass(frozen=True)
class Settings:
    bank_mode: str = "sandbox"
    secret_key: str = ""
    database_url: str = ""
    redis_url: str = ""
    instance_path: str = ""
    testing: bool = False
    # Standard Webhooks secret shared with the Bank ("whsec_<base64>").
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 5 * 60
    sms_sender: str = "333-SVK"
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    corebank_url: str = ""
    corebank_token: str = ""
    session_cookie_secure: bool = False
    # ELQR: what goes into a payment's QR (see shared/specs/elqr.md).
    elqr_base_url: str = "https://app.mbank.kg/qr/"
    elqr_provider_id: str = "c2b.mbank.kg"
    elqr_service_code: str = "mkassa"
    # Largest amount one payment may carry, tyiyn (1 000 000 som).
    max_payment_tyiyn: int = 100_000_000
    payment_lifetime_seconds: int = 60
    # Card payments (bank-interface.md §5): how MKASSA opens the Bank's MPOS app. Empty: the default of
    # the mode (services.card: the MPOS simulator in the sandbox, an Android intent: URL in production).
    # Placeholders: {payment_id}, {amount} (tyiyn), {return_url}, {fallback_url} (URL-encoded), {package}.
    mpos_url_template: str = ""
    mpos_package: str = "kg.mbank.mpos"
    # How long a card payment waits for the Bank's word before "Check status" asks and it may expire.
    card_answer_seconds: int = 120
    # Sandbox: delay before a received payment settles to "available" (seconds).
    sandbox_settle_seconds: int = 10
    sandbox_payout_seconds: int = 15
    # Sandbox: delay before the sandbox bank answers a refund (seconds); amounts ending in ,13 fail.
    sandbox_refund_seconds: int = 15
    # SMTP for shift reports; production needs MAIL_SERVER and a real MAIL_SENDER.
    mail_server: str = ""
    mail_port: int = 25
    mail_use_tls: bool = False  # STARTTLS on MAIL_PORT (usually 587)
    mail_use_ssl: bool = False  # TLS from the first byte (usually 465)
    mail_username: str = ""
    mail_password: str = ""
    mail_sender: str = DEV_MAIL_SENDER
    # Shifts still open at this hour (Bishkek, 0-23) are closed automatically (M5.5).
    shift_autoclose_hour: int = 4
    # Web push (VAPID "sub" claim): how a push service reaches the operator; mailto: or https:.
    vapid_subject: str = "mailto:support@mkassa.local"
    operator_whatsapp: str = "996312000000"
    map_tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    # Deliver the outbox from a thread inside the web process (the embedded default).
    outbox_inprocess: bool = True
    log_level: str = "INFO"
    # Rate-limit counters live in Redis under this prefix when REDIS_URL is set.
    ratelimit_key_prefix: str = "mkassa"
    # Where people reach the app ("https://kassa.bank.kg"): every absolute link (e-mails, SMS) is
    # built from it, never from the request's Host header; production also accepts only its host.
    public_base_url: str = ""
    # Reverse proxies in front of the app that append X-Forwarded-For/-Proto (0: none, the client
    # talks to the app directly). Per-address limits key on the address these proxies saw.
    trusted_proxies: int = 0
    # Partner API (#18): requests one API key may make, in Flask-Limiter's words.
    api_rate_limit: str = "120 per minute"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sandbox(self) -> bool:
        return self.bank_mode == "sandbox"

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] | None = None, **overrides: Any) -> "Settings":
        """Each field from the variable named like it in capitals (`mail_sender` ← MAIL_SENDER), the
        one rule: a new field needs no second line here. An empty variable keeps the default."""
        env = os.environ if env is None else env
        mode = env.get("BANK_MODE") or cls.bank_mode
        values: dict[str, Any] = dict(
            instance_path=env.get("MKASSA_INSTANCE_PATH") or str(Path(__file__).resolve().parent.parent / "instance"),
            # Defaults that follow the mode: production is safe unless told otherwise.
            session_cookie_secure=mode == "production",
            outbox_inprocess=mode == "sandbox",
        )
        for f in fields(cls):
            if f.name in NOT_FROM_ENV:
                continue
            raw = env.get(env_name(f.name))
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(env_name(f.name), f.type, raw)
        values.update(overrides)
        return cls(**values)

    def with_defaults(self) -> "Settings":
        """Fill the embedded defaults: SQLite and generated secrets under instance/."""
        changes: dict[str, Any] = {}
        path = Path(self.instance_path)
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{path / 'mkassa.sqlite3'}"
        if not self.public_base_url and self.sandbox:
            changes["public_base_url"] = SANDBOX_PUBLIC_BASE_URL
        for name in GENERATED_SECRETS:
            attr = name.lower()
            if not getattr(self, attr):
                changes[attr] = _instance_secret(path, name)
        return replace(self, **changes) if changes else self

    def check(self) -> None:
        if self.bank_mode not in BANK_MODES:
            raise UnsafeConfiguration(f"BANK_MODE must be one of {BANK_MODES}, not {self.bank_mode!r}")
        if not 0 <= self.shift_autoclose_hour <= 23:
            raise UnsafeConfiguration("SHIFT_AUTOCLOSE_HOUR must be an hour from 0 to 23")
        if not 0 < self.max_payment_tyiyn <= MAX_AMOUNT:  # the one ceiling of every amount (money.py)
            raise UnsafeConfiguration(f"MAX_PAYMENT_TYIYN must be from 1 to {MAX_AMOUNT}")
        if self.card_answer_seconds <= 0:
            raise UnsafeConfiguration("CARD_ANSWER_SECONDS must be a positive number of seconds")
        if self.mpos_url_template and not all(f"{{{name}}}" in self.mpos_url_template
                                              for name in ("payment_id", "amount", "return_url")):
            raise UnsafeConfiguration("MPOS_URL_TEMPLATE must carry {payment_id}, {amount} and {return_url}")
        if self.trusted_proxies < 0:
            raise UnsafeConfiguration("TRUSTED_PROXIES must be 0 or more")
        if self.public_base_url and not _is_origin(self.public_base_url):
            raise UnsafeConfiguration("PUBLIC_BASE_URL must be an origin such as https://kassa.bank.kg "
                                      "(scheme and host, no path)")
        if self.bank_mode != "production":
            return
        problems = []
        if not self.secret_key or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if not self.webhook_secret.startswith("whsec_"):
            problems.append("WEBHOOK_SECRET must be the Bank's whsec_ secret")
        if not self.database_url or self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point to PostgreSQL, not SQLite")
        if not self.sms_gateway_url or not self.corebank_url:
            problems.append("SMS_GATEWAY_URL and COREBANK_URL are required: sandbox adapters are refused")
        for name in PRODUCTION_REQUIRED:
            if not getattr(self, name):
                problems.append(f"{env_name(name)} is required in production")
        if self.mail_sender == DEV_MAIL_SENDER:
            problems.append("MAIL_SENDER must be the Bank's own address, not the development one")
        if self.mail_username and not self.mail_password:
            problems.append("MAIL_PASSWORD is required with MAIL_USERNAME")
        if self.mail_use_tls and self.mail_use_ssl:
            problems.append("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL exclude each other: choose one")
        if not self.session_cookie_secure:
            problems.append("SESSION_COOKIE_SECURE must stay on")
        if not self.public_base_url.startswith("https://"):
            problems.append("PUBLIC_BASE_URL must be set to the app's https:// address")
        if problems:
            raise UnsafeConfiguration("; ".join(problems))

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_base_url).hostname or ""

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to show an operator: secrets are masked."""
        hidden = {"secret_key", "webhook_secret", "sms_gateway_token", "corebank_token", "mail_password"}
        return {f.name: ("***" if f.name in hidden and getattr(self, f.name) else getattr(self, f.name))
                for f in fields(self)}


def _is_origin(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
            and not (parts.query or parts.fragment or parts.username or parts.password))


def _instance_secret(path: Path, name: str) -> str:
    """Read a secret from instance/, generating it on the first run (file mode 0600)."""
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"{name.lower()}.secret"
    if target.exists():
        return target.read_text().strip()
    value = ("whsec_" + _b64(secrets.token_bytes(24))) if name == "WEBHOOK_SECRET" else secrets.token_urlsafe(48)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def _b64(raw: bytes) -> str:
    import base64
    return base64.b64encode(raw).decode()
