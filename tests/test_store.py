"""The run store: round trip, lookup by prefix, error messages, URL masking and batch atomicity."""

from __future__ import annotations

import importlib.util
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from adapters.store import RunStore, mask_url
from kernel.errors import AdapterError
from kernel.orders import OrderStatus, OrderType, Side, TimeInForce

RUN = "a1b2c3d4e5f6"
TOML = 'name = "default"\nseed = 7\n'

ORDERS_IN = [
    {
        "order_id": 1, "instrument": 1, "side": "BUY", "order_type": "LIMIT", "tif": "GTC", "qty": 5,
        "price": 10_000, "status": "FILLED", "filled_qty": 5, "avg_fill_price": 10_000.0,
        "created_ts": 1_000, "updated_ts": 2_000, "reject_reason": "", "tag": "mm",
    },
    {
        "order_id": 2**63 - 1, "instrument": 2, "side": Side.SELL, "order_type": OrderType.MARKET,
        "tif": TimeInForce.IOC, "qty": 3, "price": 0, "status": OrderStatus.REJECTED, "filled_qty": 0,
        "avg_fill_price": 0.0, "created_ts": 1_500, "updated_ts": 1_500, "reject_reason": "max_qty", "tag": "",
    },
]  # fmt: skip
ORDERS_OUT = [
    ORDERS_IN[0],
    {**ORDERS_IN[1], "side": "SELL", "order_type": "MARKET", "tif": "IOC", "status": "REJECTED"},
]
# As the OMS writes them: int side, plus a key ("realized") the table does not have.
FILLS_IN = [
    {"seq": 0, "ts": 1_800, "order_id": 1, "instrument": 1, "side": 1, "price": 10_000, "qty": 2, "fee": 0.25,
     "liquidity": "maker", "realized": 0.0},
    {"seq": 1, "ts": 2_000, "order_id": 1, "instrument": 1, "side": 1, "price": 10_000, "qty": 3, "fee": 0.375,
     "liquidity": "taker", "realized": 0.0},
]  # fmt: skip
FILLS_OUT = [{k: v for k, v in f.items() if k != "realized"} | {"side": "BUY"} for f in FILLS_IN]
RISK_IN = [
    {"seq": 0, "ts": 1_000, "order_id": 1, "accepted": True, "check": "all", "reason": ""},
    {"seq": 1, "ts": 1_500, "order_id": 2**63 - 1, "accepted": False, "check": "max_qty", "reason": "qty 3 > 2"},
]
SNAPSHOTS_IN = [
    {"ts": 3_000, "instrument": 1, "position": 5, "realized": 0.0, "unrealized": 12.5, "fees": 0.625, "equity": 11.875},
    {"ts": 3_000, "instrument": None, "position": 5, "realized": 0.0, "unrealized": 12.5, "fees": 0.625,
     "equity": 11.875},
]  # fmt: skip
SUMMARY = {"scenario": "default", "seed": 7, "fills": 2, "net_pnl": 11.875, "positions": {"ES": 5}, "wall_seconds": 0.5}


# Every store test runs on SQLite and on PostgreSQL: PARITY_TEST_POSTGRES_URL names a server
# (e.g. postgresql+psycopg://user@127.0.0.1:5432/db), else tests/conftest.py starts a throwaway
# cluster (skipped without PostgreSQL server binaries); the tests drop and re-create the tables.


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "nested" / "dir" / "runs.db"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def store(request, db_path):
    if request.param == "sqlite":
        s = RunStore(f"sqlite:///{db_path}")
    else:
        s = RunStore(request.getfixturevalue("fresh_postgres_url"))
    yield s
    s.close()


def write_full_run(store: RunStore, run_id: str = RUN, summary: dict | None = None, fingerprint: str = "f" * 64):
    store.begin_run(run_id, "default", TOML, 7, "sim")
    store.add_orders(run_id, ORDERS_IN)
    store.add_fills(run_id, FILLS_IN)
    store.add_risk_events(run_id, RISK_IN)
    store.add_pnl_snapshots(run_id, SNAPSHOTS_IN)
    store.finish_run(run_id, SUMMARY if summary is None else summary, fingerprint)


# --------------------------------------------------------------------------- round trip


def test_a_sqlite_file_store_creates_the_parent_directory(db_path):
    with RunStore(f"sqlite:///{db_path}") as store:
        assert store.url == f"sqlite:///{db_path}"
    assert db_path.parent.is_dir() and db_path.exists()


def test_round_trip(store):
    before = datetime.now(UTC)
    write_full_run(store)

    run = store.get_run(RUN)
    started, finished = run.pop("started_at"), run.pop("finished_at")
    assert run == {
        "run_id": RUN, "scenario_name": "default", "scenario_text": TOML, "seed": 7, "mode": "sim",
        "engine": "reference", "status": "complete", "fingerprint": "f" * 64, "summary": SUMMARY, "error": None,
        "counts": {"orders": 2, "fills": 2, "risk_events": 2, "pnl_snapshots": 2, "alerts": 0},
    }  # fmt: skip
    assert started.tzinfo is UTC and finished.tzinfo is UTC
    assert before <= started <= finished <= datetime.now(UTC)

    assert store.orders(RUN) == ORDERS_OUT
    assert store.fills(RUN) == FILLS_OUT
    assert store.risk_events(RUN) == RISK_IN
    # The total (instrument None) sorts before the per-instrument row at equal ts.
    assert store.pnl_snapshots(RUN) == [SNAPSHOTS_IN[1], SNAPSHOTS_IN[0]]

    listed = store.list_runs()
    assert len(listed) == 1 and "scenario_text" not in listed[0]
    assert listed[0]["run_id"] == RUN and listed[0]["summary"] == SUMMARY and listed[0]["status"] == "complete"


def test_data_survives_reopening_the_file(db_path):
    with RunStore(f"sqlite:///{db_path}") as first:
        write_full_run(first)
    with RunStore(f"sqlite:///{db_path}") as second:
        assert second.get_run(RUN)["counts"] == {
            "orders": 2, "fills": 2, "risk_events": 2, "pnl_snapshots": 2, "alerts": 0
        }  # fmt: skip
        assert second.fills(RUN) == FILLS_OUT


def test_numpy_values_are_stored_as_plain_python_values(store):
    store.begin_run(RUN, "default", TOML, np.int64(7), "sim")
    fill = {**FILLS_IN[0], "ts": np.int64(1_800), "price": np.int32(10_000), "qty": np.int64(2),
            "fee": np.float64(0.25), "side": Side.BUY}  # fmt: skip
    store.add_fills(RUN, [fill])
    store.add_risk_events(RUN, [{**RISK_IN[0], "accepted": np.bool_(True)}])
    store.finish_run(RUN, {"n": np.int64(3), "x": np.float64(1.5), "nan": float("nan"), "state": Side.SELL}, "fp")
    assert store.fills(RUN) == [FILLS_OUT[0]]
    assert store.risk_events(RUN) == [RISK_IN[0]]
    assert store.get_run(RUN)["summary"] == {"n": 3, "x": 1.5, "nan": None, "state": "SELL"}


def test_list_runs_newest_first_with_limit(store):
    for rid in ("run-1", "run-2", "run-3"):
        store.begin_run(rid, "default", TOML, 1, "sim")
    store.finish_run("run-2", {"fills": 0}, "fp2")
    runs = store.list_runs()
    assert [r["run_id"] for r in runs] == ["run-3", "run-2", "run-1"]
    assert [r["status"] for r in runs] == ["running", "complete", "running"]
    assert [r["run_id"] for r in store.list_runs(limit=2)] == ["run-3", "run-2"]
    with pytest.raises(AdapterError, match="limit must be a positive integer"):
        store.list_runs(0)


def test_compare_reports_differing_keys_and_fingerprint_equality(store):
    write_full_run(store, "run-a", summary={"fills": 2, "net_pnl": 1.5, "wall_seconds": 0.4, "only_a": 1})
    write_full_run(store, "run-b", summary={"fills": 2, "net_pnl": 1.5, "wall_seconds": 0.6})
    write_full_run(store, "run-c", summary={"fills": 3, "net_pnl": 1.5, "wall_seconds": 0.6}, fingerprint="0" * 64)
    head = {"scenario_name": "default", "seed": 7, "mode": "sim", "engine": "reference", "status": "complete"}

    assert store.compare("run-a", "run-b") == {
        "a": {"run_id": "run-a", **head, "fingerprint": "f" * 64},
        "b": {"run_id": "run-b", **head, "fingerprint": "f" * 64},
        "summary": {"fills": [2, 2], "net_pnl": [1.5, 1.5], "only_a": [1, None], "wall_seconds": [0.4, 0.6]},
        "differing_keys": ["only_a", "wall_seconds"],
        "fingerprints_equal": True,
    }
    result = store.compare("run-b", "run-c")
    assert result["differing_keys"] == ["fills"]
    assert result["fingerprints_equal"] is False


def test_compare_with_an_unfinished_run_has_unequal_fingerprints(store):
    store.begin_run("run-x", "default", TOML, 1, "sim")
    store.begin_run("run-y", "default", TOML, 1, "sim")
    result = store.compare("run-x", "run-y")
    assert result["summary"] == {} and result["differing_keys"] == []
    assert result["fingerprints_equal"] is False


# --------------------------------------------------------------------------- lookup and errors


def test_unique_prefix_resolves_everywhere(store):
    write_full_run(store)
    assert store.get_run("a1b")["run_id"] == RUN
    assert store.fills("a1b2") == FILLS_OUT
    assert store.orders("a1") == ORDERS_OUT
    assert store.compare("a1b2c", RUN)["fingerprints_equal"] is True


def test_ambiguous_prefix_names_the_candidates(store):
    store.begin_run("abc-1", "default", TOML, 1, "sim")
    store.begin_run("abc-2", "default", TOML, 1, "sim")
    with pytest.raises(AdapterError) as info:
        store.get_run("abc")
    assert str(info.value) == f"run id prefix 'abc' is ambiguous in {store.url}: matches 'abc-1', 'abc-2'"
    # An exact id wins over being a prefix of another id.
    store.begin_run("abc", "default", TOML, 1, "sim")
    assert store.get_run("abc")["run_id"] == "abc"


def test_prefix_is_case_sensitive_and_like_wildcards_are_literal(store):
    store.begin_run("abc123", "default", TOML, 1, "sim")
    for ref in ("ABC", "a%", "a_c", ""):
        with pytest.raises(AdapterError) as info:
            store.get_run(ref)
        assert str(info.value) == f"no run '{ref}' in {store.url}"


def test_unknown_run_id_error_text(store, db_path):
    with pytest.raises(AdapterError) as info:
        store.get_run("nope")
    assert str(info.value) == f"no run 'nope' in {store.url}"
    if store.url.startswith("sqlite"):
        assert store.url == f"sqlite:///{db_path}"
    for call in (store.fills, store.orders):
        with pytest.raises(AdapterError, match="^no run 'nope' in "):
            call("nope")
    with pytest.raises(AdapterError, match="^no run 'nope' in "):
        store.compare("nope", "nope")


def test_writes_to_an_unknown_run_fail_and_need_the_exact_id(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    with pytest.raises(AdapterError, match="^no run 'zzz' in "):
        store.add_fills("zzz", FILLS_IN)
    with pytest.raises(AdapterError, match="^no run 'a1b' in "):  # no prefixes for writes
        store.add_fills("a1b", FILLS_IN)
    with pytest.raises(AdapterError, match="^no run 'zzz' in "):
        store.finish_run("zzz", {}, "fp")
    with pytest.raises(AdapterError, match="^no run 'zzz' in "):
        store.mark_failed("zzz", "boom")
    assert store.get_run(RUN)["counts"]["fills"] == 0


def test_duplicate_run_id(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    with pytest.raises(AdapterError) as info:
        store.begin_run(RUN, "other", TOML, 2, "sim")
    assert str(info.value) == f"run '{RUN}' already exists in {store.url}"
    assert store.get_run(RUN)["scenario_name"] == "default"


def test_crashed_run_stays_running_until_marked_failed(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    store.add_fills(RUN, FILLS_IN[:1])
    run = store.get_run(RUN)
    assert run["status"] == "running" and run["finished_at"] is None and run["summary"] is None
    store.mark_failed(RUN, "ValueError: boom")
    run = store.get_run(RUN)
    assert (run["status"], run["error"], run["summary"]) == ("failed", "ValueError: boom", None)
    assert run["finished_at"] is not None
    assert run["counts"]["fills"] == 1


def test_finish_run_rejects_bad_status_and_unserialisable_summary(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    with pytest.raises(AdapterError, match="final status must be one of"):
        store.finish_run(RUN, {}, "fp", status="running")
    with pytest.raises(AdapterError, match=r"summary\.obj: a object cannot be stored as JSON"):
        store.finish_run(RUN, {"obj": object()}, "fp")
    assert store.get_run(RUN)["status"] == "running"
    store.finish_run(RUN, {"x": 1}, "fp", status="failed", error="late failure")
    run = store.get_run(RUN)
    assert (run["status"], run["error"], run["summary"]) == ("failed", "late failure", {"x": 1})


def test_begin_run_validates_its_arguments(store):
    with pytest.raises(AdapterError, match="expected a non-empty string of at most 64 characters"):
        store.begin_run("", "default", TOML, 1, "sim")
    with pytest.raises(AdapterError, match="expected a non-empty string of at most 64 characters"):
        store.begin_run("x" * 65, "default", TOML, 1, "sim")
    with pytest.raises(AdapterError, match=r"run 'r': mode: 33 characters is longer than the column's 32"):
        store.begin_run("r", "default", TOML, 1, "m" * 33)
    with pytest.raises(AdapterError, match="run 'r': seed: expected an integer, got '1'"):
        store.begin_run("r", "default", TOML, "1", "sim")
    assert store.list_runs() == []


def test_orders_written_again_are_updated(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    working = {**ORDERS_IN[0], "status": "PARTIALLY_FILLED", "filled_qty": 2, "updated_ts": 1_800}
    store.add_orders(RUN, [working])
    assert store.orders(RUN) == [working]
    store.add_orders(RUN, ORDERS_IN)
    assert store.orders(RUN) == ORDERS_OUT
    assert store.get_run(RUN)["counts"]["orders"] == 2


def test_missing_optional_columns_take_their_defaults(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    store.add_orders(RUN, [{"order_id": 9, "instrument": 1, "side": -1, "qty": 4}])
    assert store.orders(RUN) == [
        {"order_id": 9, "instrument": 1, "side": "SELL", "order_type": "LIMIT", "tif": "GTC", "qty": 4, "price": 0,
         "status": "NEW", "filled_qty": 0, "avg_fill_price": 0.0, "created_ts": 0, "updated_ts": 0,
         "reject_reason": "", "tag": ""}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "change,message",
    [
        ({"price": None}, "fills row 1 of run 'a1b2c3d4e5f6': 'price' must not be None"),
        ({"price": "100"}, "fills row 1 of run 'a1b2c3d4e5f6': 'price': expected an integer, got '100'"),
        ({"price": 100.5}, "fills row 1 of run 'a1b2c3d4e5f6': 'price': expected an integer, got 100.5"),
        ({"order_id": 2**63}, "fills row 1 of run 'a1b2c3d4e5f6': 'order_id': 9223372036854775808 does not fit"),
        ({"side": 0}, "fills row 1 of run 'a1b2c3d4e5f6': 'side': 0 is not a Side"),
        ({"liquidity": "x" * 17}, "fills row 1 of run 'a1b2c3d4e5f6': 'liquidity': 17 characters is longer"),
    ],
)
def test_a_bad_row_rejects_the_whole_batch(store, change, message):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    batch = [dict(FILLS_IN[0]), {**FILLS_IN[1], **change}]
    with pytest.raises(AdapterError) as info:
        store.add_fills(RUN, iter(batch))
    assert str(info.value).startswith(message)
    assert store.fills(RUN) == []


def test_a_missing_required_column_rejects_the_whole_batch(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    bad = {k: v for k, v in RISK_IN[1].items() if k != "accepted"}
    with pytest.raises(AdapterError, match="^risk_events row 1 of run 'a1b2c3d4e5f6': missing column 'accepted'$"):
        store.add_risk_events(RUN, [RISK_IN[0], bad])
    assert store.risk_events(RUN) == []


def test_a_batch_the_database_rejects_midway_is_rolled_back(store):
    store.begin_run(RUN, "default", TOML, 1, "sim")
    store.add_fills(RUN, FILLS_IN[:1])
    # Rows 0 and 1 are new; row 2 repeats seq 1 -> primary key violation after two inserts.
    batch = [{**FILLS_IN[1], "seq": 5}, FILLS_IN[1], FILLS_IN[1]]
    with pytest.raises(AdapterError, match=r"writing 3 fills rows for run 'a1b2c3d4e5f6' failed: IntegrityError"):
        store.add_fills(RUN, batch)
    assert store.fills(RUN) == FILLS_OUT[:1]
    # A repeat of an already stored fill is refused the same way.
    with pytest.raises(AdapterError, match="IntegrityError"):
        store.add_fills(RUN, [{**FILLS_IN[1], "seq": 7}, FILLS_IN[0]])
    assert store.fills(RUN) == FILLS_OUT[:1]
    store.add_fills(RUN, FILLS_IN[1:])
    assert store.fills(RUN) == FILLS_OUT


def test_closed_store_refuses_work(db_path):
    store = RunStore(f"sqlite:///{db_path}")
    store.close()
    store.close()  # idempotent
    with pytest.raises(AdapterError, match="is closed"):
        store.list_runs()


# --------------------------------------------------------------------------- URLs


def test_mask_url():
    assert mask_url("postgresql+psycopg://u:secret@db.example:5432/parity") == (
        "postgresql+psycopg://u:***@db.example:5432/parity"
    )
    assert mask_url("sqlite:///runs.db") == "sqlite:///runs.db"
    assert mask_url("://u:secret@h/db") == "://u:***@h/db"  # unparsable: masked by pattern


@pytest.mark.parametrize(
    "url,expected",
    [
        ("nosuchdialect://u:secret@127.0.0.1:1/db", "cannot open run store nosuchdialect://u:***@127.0.0.1:1/db: "),
        ("://u:secret@127.0.0.1:1/db", "invalid run store URL ://u:***@127.0.0.1:1/db: "),
        ("postgresql+nosuchdriver://u:secret@127.0.0.1:1/db", "cannot open run store postgresql+nosuchdriver://u:***@"),
    ],
)
def test_bad_url_error_masks_the_password(url, expected):
    with pytest.raises(AdapterError) as info:
        RunStore(url)
    message = str(info.value)
    assert message.startswith(expected)
    assert "secret" not in message and "***" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no traceback leaking the URL


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="psycopg is not installed")
def test_unreachable_postgres_fails_fast_and_masks_the_password():
    start = time.monotonic()
    with pytest.raises(AdapterError) as info:
        RunStore("postgresql+psycopg://u:secret@127.0.0.1:1/db")
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert message.startswith("cannot open run store postgresql+psycopg://u:***@127.0.0.1:1/db: ")
    assert "secret" not in message


def test_missing_driver_is_an_adapter_error_with_a_hint(monkeypatch):
    # Whatever is installed, a driver module that cannot be imported must be reported, not raised raw.
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(AdapterError) as info:
        RunStore("postgresql+psycopg://u:secret@127.0.0.1:1/db")
    message = str(info.value)
    assert message.startswith("cannot open run store postgresql+psycopg://u:***@127.0.0.1:1/db: ")
    assert message.endswith("(is the database driver installed?)") and "secret" not in message


def test_a_file_that_is_not_a_database_is_an_adapter_error(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(AdapterError, match=f"^cannot open run store sqlite:///{path}: DatabaseError: "):
        RunStore(f"sqlite:///{path}")


def test_an_uncreatable_directory_is_an_adapter_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AdapterError, match="cannot create its directory"):
        RunStore(f"sqlite:///{blocker}/sub/runs.db")


def test_in_memory_sqlite_works():
    with RunStore("sqlite://") as store:
        write_full_run(store)
        assert store.get_run(RUN)["counts"]["fills"] == 2
