"""Settings from the environment and .env, secrets never shown; structured JSON logs with run id and component."""

from __future__ import annotations

import io
import json
import logging

import pytest

from adapters.config import Settings, load_settings
from adapters.logging_setup import configure_logging, get_logger, run_context
from kernel.errors import ScenarioError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("PARITY_"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logger = logging.getLogger("parity")
    handler = getattr(logger, "_parity_handler", None)
    if handler is not None:
        logger.removeHandler(handler)
        del logger._parity_handler
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_defaults_without_env(tmp_path):
    s = load_settings(env_file=tmp_path / "missing.env")
    assert s.log_level == "INFO" and s.log_json is False and s.metrics_port is None
    assert s.store_url_for(None, "sqlite:///x.db") == "sqlite:///x.db"


def test_env_file_and_environment_precedence(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text(
        "PARITY_LOG_LEVEL=debug\nPARITY_LOG_JSON=true\nPARITY_METRICS_PORT=9100\n"
        "PARITY_SMTP_TO=a@x.org, b@x.org\nPARITY_STORE_URL=postgresql+psycopg://u:pw-in-file@db/parity\n"
    )
    monkeypatch.setenv("PARITY_METRICS_PORT", "9200")  # the environment wins over .env
    s = load_settings(env_file=env)
    assert s.log_level == "DEBUG" and s.log_json is True and s.metrics_port == 9200
    assert s.smtp_recipients == ["a@x.org", "b@x.org"]
    # command line > environment > scenario
    assert s.store_url_for("sqlite:///cli.db", "sqlite:///scn.db") == "sqlite:///cli.db"
    assert s.store_url_for(None, "sqlite:///scn.db") == "postgresql+psycopg://u:pw-in-file@db/parity"


def test_secrets_are_never_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("PARITY_SMTP_PASSWORD", "hunter2-smtp")
    monkeypatch.setenv("PARITY_WEBHOOK_URL", "https://hooks.example/T000/SECRETPATH")
    monkeypatch.setenv("PARITY_STORE_URL", "postgresql+psycopg://u:dbpass99@db/parity")
    s = load_settings(env_file=None)
    shown = repr(s) + str(s) + json.dumps(s.safe_dict())
    for secret in ("hunter2-smtp", "SECRETPATH", "dbpass99"):
        assert secret not in shown
    assert s.safe_dict()["store_url"] == "postgresql+psycopg://u:***@db/parity"
    assert s.smtp_password.get_secret_value() == "hunter2-smtp"
    assert set(s.secrets()) == {"hunter2-smtp", "https://hooks.example/T000/SECRETPATH", "dbpass99"}

    buf = io.StringIO()
    configure_logging("INFO", json_lines=True, stream=buf, secrets=s.secrets())
    log = get_logger("alerts")
    log.info("posting to %s with %s", s.webhook_url.get_secret_value(), s.smtp_password.get_secret_value())
    try:
        raise RuntimeError("login failed for password hunter2-smtp")
    except RuntimeError:
        log.exception("smtp error")
    text = buf.getvalue()
    assert "SECRETPATH" not in text and "hunter2-smtp" not in text and "***" in text


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("PARITY_METRICS_PORT", "not-a-port")
    with pytest.raises(ScenarioError, match="PARITY_METRICS_PORT"):
        load_settings(env_file=None)
    monkeypatch.setenv("PARITY_METRICS_PORT", "1")
    monkeypatch.setenv("PARITY_LOG_LEVEL", "chatty")
    with pytest.raises(ScenarioError, match="PARITY_LOG_LEVEL"):
        load_settings(env_file=None)


def test_json_lines_carry_run_id_component_and_extras():
    buf = io.StringIO()
    configure_logging("DEBUG", json_lines=True, stream=buf)
    with run_context("run123"):
        get_logger("store").info("flushed %d rows", 42, extra={"rows": 42})
    get_logger("telemetry").debug("no run here")
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0]["run_id"] == "run123" and lines[0]["component"] == "store"
    assert lines[0]["msg"] == "flushed 42 rows" and lines[0]["rows"] == 42 and lines[0]["level"] == "INFO"
    assert lines[1]["run_id"] == "" and lines[1]["component"] == "telemetry"


def test_text_format_and_level_filtering():
    buf = io.StringIO()
    configure_logging("WARNING", stream=buf)
    with run_context("abc"):
        get_logger("alerts").info("hidden")
        get_logger("alerts").warning("shown")
    text = buf.getvalue()
    assert "hidden" not in text and "WARNING alerts [abc] shown" in text
    # Only the parity tree is configured.
    assert logging.getLogger("parity").propagate is False


def test_settings_class_reads_prefix(monkeypatch):
    monkeypatch.setenv("PARITY_STORE_BATCH_ROWS", "17")
    assert Settings(_env_file=None).store_batch_rows == 17
