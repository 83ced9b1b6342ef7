"""The canonical market-data event dtype.

Market data travel through parity as numpy structured arrays of
:data:`MD_DTYPE`, in chunks. Prices are integer ticks, quantities integer lots,
timestamps int64 nanoseconds since the Unix epoch.
"""

from __future__ import annotations

import numpy as np

# Actions of a market-data event.
ADD = 1  # a limit order joins the book (in order-flow streams it may cross and trade)
CANCEL = 2  # reduce a resting order by qty (qty == 0: remove it entirely)
MODIFY = 3  # resting order gets a new price/qty (loses priority unless qty only goes down)
EXECUTE = 4  # a resting order is executed for qty (replayed L3 data)
TRADE = 5  # a trade print that does not touch the visible book
CLEAR = 6  # the instrument's book is cleared
MARKET = 7  # a market order of side/qty sweeps the book (synthetic order flow)

ACTION_NAMES = {
    ADD: "add",
    CANCEL: "cancel",
    MODIFY: "modify",
    EXECUTE: "execute",
    TRADE: "trade",
    CLEAR: "clear",
    MARKET: "market",
}

# Sides.
BUY = 1
SELL = -1

MD_DTYPE = np.dtype(
    [
        ("ts", "<i8"),
        ("order_id", "<u8"),
        ("price", "<i8"),
        ("qty", "<i8"),
        ("instrument", "<u4"),
        ("action", "u1"),
        ("side", "i1"),
        ("flags", "u1"),
        ("_pad", "u1"),
    ]
)
"""One market-data event: 40 bytes, fixed layout, little endian."""

# Flags.
F_LAST = 0x01  # last event of a packet / atomic update
F_SNAPSHOT = 0x02  # part of a book snapshot


def empty_events(n: int) -> np.ndarray:
    """Return a zeroed event array of length ``n``."""
    return np.zeros(n, dtype=MD_DTYPE)
