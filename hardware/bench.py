"""The cocotb testbench of ``top``: streams a job's beats in, collects the OUCH beats out.

It is a generic driver/monitor; what to send and what to check is decided in
Python outside the simulator (:mod:`hardware.runner`). The job file (path in
``PARITY_HW_JOB``, JSON) holds the config-port writes, the input beats and the
bench knobs; the result file (``PARITY_HW_RESULT``) gets, per cycle index, the
acceptance of every input beat and every output beat, plus the counters.

Timing: the bench acts on falling edges. Everything it reads there is what the
DUT presents to the next rising edge, and everything it writes is sampled at
that edge; "cycle c" is the c-th rising edge after streaming starts. A beat is
accepted in cycle c when tvalid and tready are both high at that edge.
AXI-Stream rules hold on the input: once presented, a beat stays (same data,
tvalid high) until accepted.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

CLOCK_NS = 4  # 250 MHz


async def _reset_and_configure(dut, writes: list[list[int]]) -> None:
    fe = FallingEdge(dut.clk)
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tkeep.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    dut.cfg_we.value = 0
    dut.cfg_addr.value = 0
    dut.cfg_wdata.value = 0
    dut.kill_in.value = 0
    dut.stat_addr.value = 0
    for _ in range(4):
        await fe
    dut.rst.value = 0
    await fe
    while not int(dut.ready.value):
        await fe
    for addr, value in writes:
        dut.cfg_we.value = 1
        dut.cfg_addr.value = addr
        dut.cfg_wdata.value = value
        await fe
    dut.cfg_we.value = 0
    await fe


@cocotb.test()
async def stream(dut):
    """Drive the job (profiled with cProfile when PARITY_HW_PROFILE names an output file)."""
    prof_path = os.environ.get("PARITY_HW_PROFILE")
    if not prof_path:
        await _stream(dut)
        return
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    try:
        await _stream(dut)
    finally:
        prof.disable()
        prof.dump_stats(prof_path)


async def _stream(dut):
    """Drive the job's beats with random tvalid gaps and tready back-pressure; record everything."""
    with open(os.environ["PARITY_HW_JOB"]) as f:
        job = json.load(f)
    Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start()  # the clock in C: no Python per edge
    await _reset_and_configure(dut, job["writes"])

    data = bytes.fromhex(job["stream"])
    beats = job["beats"]  # [offset, nbytes, last]
    n = len(beats)
    rng = random.Random(job["seed"])
    p_valid = job["valid_prob"]
    p_ready = job["ready_prob"]
    kill_after = job.get("kill_after_beats")  # assert kill_in once this many beats are accepted
    kill_at = job.get("kill_at_cycle")  # or at this cycle
    drain = job.get("drain_cycles", 64)  # output idle this long after the input: done
    max_cycles = job.get("max_cycles") or (20 * n + 10_000)
    stat_addrs = job["stat_addrs"]

    fe = FallingEdge(dut.clk)
    tvalid, tdata, tkeep, tlast = dut.s_axis_tvalid, dut.s_axis_tdata, dut.s_axis_tkeep, dut.s_axis_tlast
    tready = dut.s_axis_tready
    m_tvalid, m_tdata, m_tkeep, m_tlast, m_tready = (
        dut.m_axis_tvalid, dut.m_axis_tdata, dut.m_axis_tkeep, dut.m_axis_tlast, dut.m_axis_tready,
    )  # fmt: skip
    # beats as (tdata, tkeep, tlast) ints, ready to write
    words = [(int.from_bytes(data[off : off + nb], "little"), (1 << nb) - 1, last) for off, nb, last in beats]
    accepted = [0] * n
    out: list[list[int]] = []
    present: list[int] = []  # cycle at which each output message's first beat is first presented
    in_msg = False  # a message's first beat has been presented and its last not yet taken
    i = 0
    held = False  # the beat i is presented and must stay until accepted
    valid_now = 0
    keep_now = last_now = -1
    ready_now = False
    always_valid = p_valid >= 1.0
    always_ready = p_ready >= 1.0
    rand = rng.random
    idle = 0
    cycle = 0
    kill_cycle = None
    while cycle < max_cycles:
        cycle += 1
        # -- input: present beat i (or a gap); accepted at this cycle's edge if tready
        if not held:
            if i < n and (always_valid or rand() < p_valid):
                word, keep, last = words[i]
                tdata.value = word
                if keep != keep_now:
                    tkeep.value = keep_now = keep
                if last != last_now:
                    tlast.value = last_now = last
                if not valid_now:
                    tvalid.value = valid_now = 1
                held = True
            elif valid_now:
                tvalid.value = valid_now = 0
        if held and int(tready.value):
            accepted[i] = cycle
            i += 1
            held = False
        # -- output: back-pressure, and the beat taken at this edge
        r = always_ready or rand() < p_ready
        if r != ready_now:
            m_tready.value = int(r)
            ready_now = r
        if int(m_tvalid.value):
            idle = 0
            if not in_msg:
                present.append(cycle)
                in_msg = True
            if r:
                last = int(m_tlast.value)
                out.append([cycle, int(m_tdata.value), int(m_tkeep.value), last])
                if last:
                    in_msg = False
        else:
            idle += 1
        # -- kill switch
        if kill_cycle is None and (
            (kill_after is not None and i >= kill_after) or (kill_at is not None and cycle >= kill_at)
        ):
            dut.kill_in.value = 1
            kill_cycle = cycle  # sampled at this cycle's edge
        await fe
        if i >= n and not held and idle >= drain:
            break
    tvalid.value = 0
    stats = {}
    for a in stat_addrs:
        dut.stat_addr.value = a
        await fe
        stats[str(a)] = int(dut.stat_data.value)
    with open(os.environ["PARITY_HW_RESULT"], "w") as f:
        json.dump(
            {
                "accepted": accepted,
                "beats_sent": i,
                "out": out,
                "present": present,
                "cycles": cycle,
                "kill_cycle": kill_cycle,
                "stats": stats,
                "timeout": cycle >= max_cycles,
            },
            f,
        )
