"""Shared fixtures.

``postgres_url``: a SQLAlchemy URL of a real PostgreSQL server for tests
marked ``postgres``. ``PARITY_TEST_POSTGRES_URL`` names an existing server;
otherwise a throwaway cluster is started (once per xdist worker) with
``initdb`` + ``pg_ctl`` from the PostgreSQL server binaries, listening on a
free loopback port with its socket and data in a temp dir, and removed at
the end of the session. As root the cluster runs as the ``postgres`` user
(PostgreSQL refuses to run as root). Without server binaries the tests skip
with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl (PostgreSQL 15 preferred), or None."""
    env = os.environ.get("PARITY_PG_BIN")
    candidates = ([env] if env else []) + PG_BIN_CANDIDATES
    for d in candidates:
        if d and os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temp dir on a loopback port."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="parity-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        if self.as_root:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else cmd

    def _run(self, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        last: Exception | None = None
        for _ in range(5):  # a port picked here may be taken by someone else before the server binds it
            self.port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40"
            )
            try:
                log = str(self.dir / "log")
                self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", opts, "-w", "-t", "30", "start")
                return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
            except RuntimeError as exc:
                last = exc
        raise RuntimeError(f"could not start PostgreSQL: {last}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server (see the module doc); skips when none can be had."""
    url = os.environ.get("PARITY_TEST_POSTGRES_URL", "")
    if url:
        yield url
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
    cluster = PostgresCluster(bin_dir)
    try:
        started = time.monotonic()
        url = cluster.start()
        _wait_ready(url, started)
    except Exception:
        cluster.stop()
        raise
    try:
        yield url
    finally:
        cluster.stop()


def _wait_ready(url: str, started: float) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("select 1"))
                return
            except Exception:
                if time.monotonic() - started > 30:
                    raise
                time.sleep(0.1)
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url`` with every run store table (and Alembic's) dropped first."""
    from sqlalchemy import create_engine, text

    from adapters.store.schema import Base

    engine = create_engine(postgres_url)
    try:
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()
    yield postgres_url


# --------------------------------------------------------------------------- notification test servers


class RecordingWebhook:
    """A local HTTP server that records JSON POST bodies (answers ``status``)."""

    def __init__(self, status: int = 200) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = status
        self.bodies: list[dict] = []
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.bodies.append(json.loads(body))
                outer.received.set()
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/T000/SECRET"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook_server() -> Iterator[RecordingWebhook]:
    server = RecordingWebhook()
    yield server
    server.close()


class RecordingSmtp:
    """A local aiosmtpd server that keeps every message it receives."""

    def __init__(self) -> None:
        import threading

        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.received = threading.Event()
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
                from email import message_from_bytes

                outer.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
                outer.received.set()
                return "250 OK"

        last: Exception | None = None
        for _ in range(5):
            self.port = _free_port()
            self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
            try:
                self.controller.start()
                return
            except Exception as exc:  # the port was taken meanwhile
                last = exc
        raise RuntimeError(f"cannot start the SMTP test server: {last}")

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[RecordingSmtp]:
    server = RecordingSmtp()
    yield server
    server.close()


class Blackhole:
    """A TCP port that accepts connections and never answers (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    hole = Blackhole()
    yield hole
    hole.close()


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def parity_log() -> Iterator[_ListHandler]:
    """Records of the ``parity`` logger tree (works whether or not configure_logging ran in this worker)."""
    logger = logging.getLogger("parity")
    handler = _ListHandler()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def shared_data_dir() -> Path | None:
    """The shared market-data samples: $PARITY_SHARED_DATA, ../shared/data beside the repo,
    or /work/shared/data; None when none exists."""
    candidates = [os.environ.get("PARITY_SHARED_DATA")]
    candidates += [str(Path(__file__).resolve().parents[2] / "shared" / "data"), "/work/shared/data"]
    for c in candidates:
        if c and Path(c, "MANIFEST.md").exists():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; skips the test with the reason when it is absent."""
    found = shared_data_dir()
    if found is None:
        pytest.skip("real market-data samples not found: set PARITY_SHARED_DATA to the shared/data folder")
    return found
