"""Fixtures of the hardware tests: the simulator tools (skip with the reason when missing)."""

from __future__ import annotations

import pytest

from hardware.runner import HardwareUnavailable, check_tools


@pytest.fixture(scope="session")
def hw_tools() -> None:
    """Icarus Verilog and cocotb; the test skips naming what is missing."""
    try:
        check_tools()
    except HardwareUnavailable as exc:
        pytest.skip(str(exc))
