"""Tests of venues.latency: determinism, bounds, distributions and config parsing."""

from __future__ import annotations

import numpy as np
import pytest

from kernel.errors import ScenarioError
from venues.latency import (
    BLOCK,
    ConstantLatency,
    EmpiricalLatency,
    LatencyModel,
    LogNormalLatency,
    UniformLatency,
    VenueLatency,
    latency_from_config,
)


def draw(model: LatencyModel, n: int) -> list[int]:
    return [model.sample() for _ in range(n)]


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_constant() -> None:
    c = ConstantLatency(1500)
    assert draw(c, 3) == [1500, 1500, 1500]
    assert isinstance(c, LatencyModel)


@pytest.mark.parametrize(
    "make",
    [
        lambda g: LogNormalLatency(20_000, 0.5, g),
        lambda g: EmpiricalLatency([5, 10, 1000, 7], g),
        lambda g: UniformLatency(100, 200, g),
    ],
)
def test_random_models_are_deterministic_per_seed(make) -> None:
    n = 2 * BLOCK + 10  # crosses block refills
    a = draw(make(rng(1)), n)
    b = draw(make(rng(1)), n)
    c = draw(make(rng(2)), n)
    assert a == b
    assert a != c
    assert all(type(x) is int and x >= 0 for x in a)


def test_lognormal_blocks_match_a_vectorized_draw() -> None:
    # The block sampler hands out exactly what one vectorized call per block produces.
    m = LogNormalLatency(20_000, 0.3, rng(3), min_ns=1_000)
    got = draw(m, 2 * BLOCK)
    g = rng(3)
    ref = []
    for _ in range(2):
        x = 20_000 * np.exp(0.3 * g.standard_normal(BLOCK))
        ref += np.clip(np.rint(x), 1_000, 2**62).astype(np.int64).tolist()
    assert got == ref


def test_lognormal_median_and_bounds() -> None:
    samples = np.array(draw(LogNormalLatency(40_000, 0.25, rng(11)), 100_000))
    assert abs(np.median(samples) / 40_000 - 1) < 0.01
    # the log of the samples has the requested sigma
    assert abs(np.std(np.log(samples)) - 0.25) < 0.005
    clipped = np.array(draw(LogNormalLatency(40_000, 1.0, rng(11), min_ns=15_000, max_ns=60_000), 20_000))
    assert clipped.min() == 15_000 and clipped.max() == 60_000
    assert set(draw(LogNormalLatency(123, 0.0, rng()), 10)) == {123}
    huge = draw(LogNormalLatency(10**9, 50.0, rng()), 1000)  # exp() overflows: still a valid int64 delay
    assert min(huge) >= 0 and max(huge) <= 2**62


def test_empirical_only_given_values_and_all_of_them() -> None:
    values = [1_000, 2_500, 2_500, 90_000]
    out = draw(EmpiricalLatency(values, rng(5)), 10_000)
    assert set(out) == {1_000, 2_500, 90_000}
    # 2_500 appears twice in the input, so it is drawn about half the time
    assert abs(out.count(2_500) / len(out) - 0.5) < 0.03
    assert EmpiricalLatency(values, rng()).min_ns == 1_000


def test_uniform_bounds_inclusive() -> None:
    out = draw(UniformLatency(10, 13, rng(9)), 5_000)
    assert set(out) == {10, 11, 12, 13}
    assert draw(UniformLatency(7, 7, rng()), 3) == [7, 7, 7]


def test_models_need_a_generator() -> None:
    with pytest.raises(TypeError, match="Generator"):
        UniformLatency(1, 2, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ConstantLatency(-1), "ns"),
        (lambda: LogNormalLatency(0, 0.5, rng()), "median_ns"),
        (lambda: LogNormalLatency(100, -0.1, rng()), "sigma"),
        (lambda: LogNormalLatency(100, 0.1, rng(), min_ns=-5), "min_ns"),
        (lambda: LogNormalLatency(100, 0.1, rng(), min_ns=50, max_ns=10), "max_ns"),
        (lambda: EmpiricalLatency([], rng()), "samples_ns"),
        (lambda: EmpiricalLatency([1, -2], rng()), "samples_ns"),
        (lambda: EmpiricalLatency([1.5, 2.0], rng()), "samples_ns"),
        (lambda: UniformLatency(-1, 5, rng()), "low_ns"),
        (lambda: UniformLatency(10, 5, rng()), "high_ns"),
    ],
)
def test_constructor_errors_name_the_field(make, field: str) -> None:
    with pytest.raises(ScenarioError, match=f"'{field}'"):
        make()


# ---------------------------------------------------------------- config


def test_config_kinds() -> None:
    g = rng()
    c = latency_from_config(20_000, g)
    assert isinstance(c, ConstantLatency) and c.ns == 20_000
    assert isinstance(latency_from_config(np.int64(5), g), ConstantLatency)
    assert latency_from_config({"kind": "constant", "ns": 1000}, None).sample() == 1000
    ln = latency_from_config({"kind": "lognormal", "median_ns": 40_000, "sigma": 0.25, "min_ns": 15_000}, g)
    assert isinstance(ln, LogNormalLatency) and (ln.median_ns, ln.sigma, ln.min_ns, ln.max_ns) == (
        40_000,
        0.25,
        15_000,
        None,
    )
    e = latency_from_config({"kind": "empirical", "samples_ns": [3, 4]}, g)
    assert isinstance(e, EmpiricalLatency) and e.sample() in (3, 4)
    u = latency_from_config({"kind": "uniform", "low_ns": 1, "high_ns": 2}, g)
    assert isinstance(u, UniformLatency) and u.sample() in (1, 2)


def test_config_is_deterministic_per_seed() -> None:
    cfg = {"kind": "lognormal", "median_ns": 40_000, "sigma": 0.25}
    assert draw(latency_from_config(cfg, rng(4)), 100) == draw(latency_from_config(cfg, rng(4)), 100)


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        (-5, [">= 0"]),
        (True, ["boolean"]),
        ("20us", ["integer ns or a table"]),
        ({"ns": 10}, ["'kind'", "required"]),
        ({"kind": "gamma"}, ["'kind'", "gamma", "lognormal"]),
        ({"kind": "constant"}, ["'ns'", "required"]),
        ({"kind": "constant", "ns": "10"}, ["'ns'"]),
        ({"kind": "constant", "ns": 10.5}, ["'ns'"]),
        ({"kind": "constant", "ns": 10, "jitter": 1}, ["'jitter'", "unknown"]),
        ({"kind": "lognormal", "sigma": 0.2}, ["'median_ns'"]),
        ({"kind": "lognormal", "median_ns": 10, "sigma": -1}, ["'sigma'"]),
        ({"kind": "lognormal", "median_ns": 10, "sigma": 0.1, "min_ns": 20, "max_ns": 5}, ["'max_ns'"]),
        ({"kind": "empirical", "samples_ns": []}, ["'samples_ns'"]),
        ({"kind": "empirical", "samples_ns": [1, -1]}, ["samples_ns"]),
        ({"kind": "uniform", "low_ns": 5}, ["'high_ns'"]),
        ({"kind": "uniform", "low_ns": 5, "high_ns": 1}, ["'high_ns'"]),
    ],
)
def test_config_errors_name_the_field(cfg, words: list[str]) -> None:
    with pytest.raises(ScenarioError) as info:
        latency_from_config(cfg, rng(), where="venues.SIM.latency.order_entry")
    text = str(info.value)
    assert text.startswith("venues.SIM.latency.order_entry")
    for word in words:
        assert word in text


def test_random_config_needs_a_generator() -> None:
    with pytest.raises(ScenarioError, match="random generator"):
        latency_from_config({"kind": "uniform", "low_ns": 1, "high_ns": 2}, None)


def test_venue_latency() -> None:
    v = VenueLatency(ConstantLatency(1), ConstantLatency(2), ConstantLatency(3))
    assert (v.market_data.sample(), v.order_entry.sample(), v.response.sample()) == (1, 2, 3)
    v = VenueLatency.from_config(
        {"market_data": 20_000, "order_entry": {"kind": "lognormal", "median_ns": 40_000, "sigma": 0.25}}, rng()
    )
    assert v.market_data.sample() == 20_000
    assert isinstance(v.order_entry, LogNormalLatency)
    assert v.response.sample() == 0  # a missing leg is 0 ns
    with pytest.raises(ScenarioError, match="'orders'"):
        VenueLatency.from_config({"orders": 5}, rng())
    with pytest.raises(ScenarioError, match=r"latency\.response.*'sigma'"):
        VenueLatency.from_config({"response": {"kind": "lognormal", "median_ns": 5}}, rng())
