"""Environment configuration of a parity process (pydantic-settings).

Every field can be set from the environment with the ``PARITY_`` prefix
(``PARITY_STORE_URL``, ``PARITY_LOG_JSON=true``, ``PARITY_SMTP_PASSWORD``...)
or from a ``.env`` file in the working directory (see ``.env.example`` at the
repository root). Real environment variables win over the ``.env`` file.

Precedence when a run is assembled: command-line option > environment /
``.env`` > scenario file > the defaults below (see :meth:`Settings.store_url_for`).

Secrets (SMTP password, webhook URL, a password inside the store URL) are
``SecretStr`` or masked by :meth:`Settings.safe_dict`; they never appear in
``repr``, in logs or in error messages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Process-level settings: store, logging, telemetry and alert channels."""

    model_config = SettingsConfigDict(
        env_prefix="PARITY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # -- store
    store_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the run store; overrides the scenario's [store].url"
    )
    store_batch_rows: int = Field(default=2_000, gt=0, description="rows per store write batch")
    store_flush_interval_s: float = Field(default=0.5, gt=0, description="max seconds between store flushes")

    # -- logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = Field(default=False, description="one JSON object per log line")

    # -- telemetry
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="serve /metrics, /healthz, /readyz")
    data_stale_after_s: float = Field(default=5.0, gt=0, description="readiness fails when data are older")

    # -- alert channels (which rules fire is in the scenario's [alerts] or alert_rules_file)
    alert_rules_file: Path | None = Field(default=None, description="TOML file with [[rules]] merged into a run's")
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, gt=0, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "parity@localhost"
    smtp_to: str = Field(default="", description="comma-separated recipients")
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=5.0, gt=0)
    webhook_url: SecretStr | None = Field(default=None, description="Slack-compatible incoming webhook URL")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    notify_retries: int = Field(default=3, ge=0, description="retries of a failed notification")
    notify_backoff_s: float = Field(default=0.5, ge=0, description="first retry delay; doubles each retry")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @property
    def smtp_recipients(self) -> list[str]:
        return [a.strip() for a in self.smtp_to.split(",") if a.strip()]

    @property
    def log_level_number(self) -> int:
        return logging.getLevelName(self.log_level)

    def store_url_for(self, cli_url: str | None, scenario_url: str) -> str:
        """The store URL a run uses: the command line's, else the environment's, else the scenario's."""
        if cli_url:
            return cli_url
        if self.store_url is not None and self.store_url.get_secret_value():
            return self.store_url.get_secret_value()
        return scenario_url

    def secrets(self) -> list[str]:
        """Secret strings that must never be printed (for the log redaction filter)."""
        out: list[str] = []
        for value in (self.smtp_password, self.webhook_url):
            if value is not None and value.get_secret_value():
                out.append(value.get_secret_value())
        if self.store_url is not None:
            from sqlalchemy.engine import make_url

            try:
                password = make_url(self.store_url.get_secret_value()).password
            except Exception:  # an unparsable URL has nothing we can extract
                password = None
            if password:
                out.append(str(password))
        return out

    def safe_dict(self) -> dict[str, Any]:
        """All settings as plain data with every secret masked (safe to log or print)."""
        from adapters.store.run_store import mask_url

        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "store_url" and value is not None:
                value = mask_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                value = "***" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read settings from the environment and ``env_file`` (``None``: environment only).

    Raises:
        ScenarioError: a value does not validate; the message names the
            variable (e.g. ``PARITY_METRICS_PORT``) but never a secret value.
    """
    from pydantic import ValidationError

    from kernel.errors import ScenarioError

    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            problems.append(f"PARITY_{field.upper()}: {err['msg']}")
        raise ScenarioError("settings: " + "; ".join(problems)) from None


__all__ = ["LOG_LEVELS", "Settings", "load_settings"]
