"""`parity live`: unreachable host, port safety, dry run, and a run end to end."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from kernel.errors import AdapterError
from scenarios.cli import main
from scenarios.live import LiveRun, check_port_safety, fake_server_for
from tests.live.support import MANUAL_TOML, MARKET_TOML, TAKER, free_port, manual_scenario, market_scenario

pytestmark = pytest.mark.live


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "live.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_unreachable_host_is_an_adapter_error_after_the_timeout_and_cli_exit_2(tmp_path, capsys) -> None:
    port = free_port()
    run = LiveRun(manual_scenario(), port=port, connect_timeout=0.4, with_strategy=False)
    started = time.monotonic()
    with pytest.raises(AdapterError, match=rf"127\.0\.0\.1:{port}.*within 0\.4s"):
        run.run()
    assert 0.4 <= time.monotonic() - started < 3.0
    path = _write(tmp_path, MANUAL_TOML)
    assert main(["live", path, "--port", str(port), "--connect-timeout", "0.3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("parity: error: cannot connect") and f"127.0.0.1:{port}" in err[0]


def test_silent_server_times_out_with_adapter_error() -> None:
    with socket.socket() as listener:  # accepts TCP, never answers the API handshake
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        run = LiveRun(manual_scenario(), port=port, connect_timeout=0.5, with_strategy=False)
        started = time.monotonic()
        with pytest.raises(AdapterError, match=rf"127\.0\.0\.1:{port}"):
            run.run()
        assert 0.5 <= time.monotonic() - started < 3.0


@pytest.mark.parametrize("port", [7496, 4001])
def test_live_account_ports_are_refused_without_the_flag(tmp_path, capsys, port: int) -> None:
    path = _write(tmp_path, MANUAL_TOML)
    assert main(["live", path, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "--i-understand-live" in err and str(port) in err and err.count("\n") == 1
    # From the scenario file too.
    path = _write(tmp_path, MANUAL_TOML + f"port = {port}\n")
    assert main(["live", path]) == 2
    assert "--i-understand-live" in capsys.readouterr().err
    with pytest.raises(AdapterError):
        LiveRun(manual_scenario(f"port = {port}\n"), with_strategy=False)
    check_port_safety(port, i_understand_live=True)  # the flag lets it through
    for paper in (7497, 4002):
        check_port_safety(paper)


def test_a_sim_scenario_is_not_run_live(tmp_path, capsys) -> None:
    path = _write(tmp_path, MANUAL_TOML.replace('mode = "live"', 'mode = "sim"'))
    assert main(["live", path, "--port", "7497"]) == 2
    assert "mode" in capsys.readouterr().err


def test_dry_run_journals_orders_and_sends_none() -> None:
    async def main_() -> tuple:
        scenario = market_scenario(TAKER, seed=11, duration="3s", rate=150.0)
        server = fake_server_for(scenario, lockstep=True)
        async with server:
            run = LiveRun(scenario, port=server.port, dry_run=True)
            result = await asyncio.wait_for(run.run_async(until=server.market_done.wait()), 30)
            return result, server, run

    result, server, run = asyncio.run(main_())
    sent = [m for _, _, m in server.received]
    assert "3" not in sent and "4" not in sent and not server.orders  # nothing placed at IB
    assert sent.count("1") == 1  # but market data were subscribed
    assert result.summary["book_updates_delivered"] > 10 and result.summary["orders"] > 0
    journaled = [r for r in result.journal.records if r.kind == "dry_run"]
    assert len(journaled) == len(run.venues["IB"].dry_run_orders)
    submits = [row for row in run.venues["IB"].dry_run_orders if row["action"] == "submit"]
    assert len(submits) == result.summary["orders"] - result.summary["risk_rejections"] > 0
    assert all(o.status.name == "CANCELLED" for o in result.orders)  # IOCs: acked, then over unfilled
    assert result.summary["fills"] == 0 and result.summary["dry_run"] is True


def test_cli_live_end_to_end_against_a_fake_server_thread(tmp_path, capsys) -> None:
    text = MARKET_TOML.format(seed=11, duration="1s", rate=150.0).replace("lockstep = true", "lockstep = false")
    scenario_path = _write(tmp_path, text + TAKER)
    ready = threading.Event()
    box: dict = {}

    def serve() -> None:
        async def run_server() -> None:
            server = fake_server_for(market_scenario(TAKER, seed=11, duration="1s", rate=150.0))
            async with server:
                box.update(port=server.port, server=server, stop=asyncio.Event(), loop=asyncio.get_running_loop())
                ready.set()
                await box["stop"].wait()

        asyncio.run(run_server())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        code = main(["live", scenario_path, "--port", str(box["port"]), "--client-id", "4", "--json"])
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    assert summary["mode"] == "live" and summary["ib"]["IB"]["client_id"] == 4
    assert summary["book_updates_delivered"] > 0
    assert summary["positions"]["SYN"] == box["server"].position(0)
