"""Position, cash and PnL accounting.

Prices are integer ticks, quantities integer lots, time int ns. Each
instrument has a ``tick_value``: the currency value of a one-tick move for one
lot, so ``notional = price * qty * tick_value``.

The accounting identity the portfolio keeps (up to float rounding)::

    cash - starting_cash + sum(pos * mark * tick_value) == realized + unrealized - fees

An instrument with an open position but no mark yet is valued at its average
entry price (its unrealized PnL is 0), which keeps the identity exact.
"""

from __future__ import annotations

from kernel.errors import DataError


class _Book:
    """Per-instrument accounting state."""

    __slots__ = (
        "owner", "tick_value", "position", "avg", "realized", "fees", "mark", "mark_ts", "fill_count", "traded_qty"
    )  # fmt: skip

    def __init__(self, owner: Portfolio, tick_value: float) -> None:
        self.owner = owner
        self.tick_value = tick_value
        self.position = 0
        self.avg = 0.0  # ticks; 0 when flat
        self.realized = 0.0
        self.fees = 0.0
        self.mark: float | None = None
        self.mark_ts = 0  # ts of the last mark
        self.fill_count = 0
        self.traded_qty = 0

    def mark_at(self, price: float, ts: int) -> int:
        """Set the mark-to-market price (ticks) at ``ts``; return the position.

        Not flat, the mark moves PnL: the owner's peak and drawdown follow. Flat, it only
        records ``mark`` and ``mark_ts``, which a caller marking on every top change may set
        itself while ``position`` is 0 (:class:`kernel.marketdata.MarketDataBus` does)."""
        self.mark = price
        self.mark_ts = ts
        position = self.position
        if position:
            self.owner._update_drawdown(ts)
        return position

    def unrealized(self) -> float:
        if self.mark is None or self.position == 0:
            return 0.0
        return (self.mark - self.avg) * self.position * self.tick_value

    def value_price(self) -> float:
        # Unmarked positions are valued at cost so equity stays consistent with
        # unrealized PnL == 0.
        return self.avg if self.mark is None else float(self.mark)


class Portfolio:
    """Cash, positions, average prices, realized/unrealized PnL, fees and drawdown.

    Args:
        tick_values: instrument id -> currency value of one tick for one lot.
        starting_cash: initial cash balance.
    """

    def __init__(self, tick_values: dict[int, float], starting_cash: float = 0.0) -> None:
        for inst, tv in tick_values.items():
            if not tv > 0:
                raise DataError(f"portfolio: instrument {inst} has non-positive tick_value {tv}")
        self.tick_values: dict[int, float] = {int(k): float(v) for k, v in tick_values.items()}
        self._books: dict[int, _Book] = {k: _Book(self, v) for k, v in self.tick_values.items()}
        self.starting_cash: float = float(starting_cash)
        self.cash: float = float(starting_cash)
        self.fees: float = 0.0
        self.fees_by_instrument: dict[int, float] = {k: 0.0 for k in self._books}
        self._realized_total = 0.0
        self.fill_count: int = 0
        self.traded_qty: int = 0
        # Peak and drawdown are tracked on net PnL (equity - starting_cash).
        self.peak_pnl: float = 0.0
        self.max_drawdown: float = 0.0
        self._pnl_ts = 0  # ts of the last fill or PnL-moving mark (marks keep theirs: last_ts)

    # -- updates ---------------------------------------------------------------

    def _book(self, instrument: int) -> _Book:
        book = self._books.get(instrument)
        if book is None:
            raise DataError(f"portfolio: unknown instrument {instrument} (no tick_value)")
        return book

    def on_fill(self, instrument: int, side: int, qty: int, price: int, fee: float, ts: int) -> float:
        """Apply a fill and return its realized PnL (before fee).

        ``side`` is +1 buy / -1 sell, ``fee`` > 0 a cost and < 0 a rebate.
        Closing trades realize ``(price - avg) * closed * sign(pos) * tick_value``;
        a fill through zero realizes the closed part and opens the rest at ``price``.
        """
        book = self._book(instrument)
        if side not in (1, -1):
            raise DataError(f"portfolio: fill on instrument {instrument} has side {side}, expected +1 or -1")
        if qty <= 0:
            raise DataError(f"portfolio: fill on instrument {instrument} has non-positive qty {qty}")
        tv = book.tick_value
        pos = book.position
        realized = 0.0
        if pos == 0 or (pos > 0) == (side > 0):
            # Opening or adding: volume-weighted average entry.
            if pos == 0:
                book.avg = float(price)
            else:
                apos = abs(pos)
                book.avg = (book.avg * apos + price * qty) / (apos + qty)
            book.position = pos + side * qty
        else:
            apos = abs(pos)
            closed = min(qty, apos)
            sign = 1 if pos > 0 else -1
            # Operand order keeps a simple round trip exact: (p2 - p1) * q * tv.
            realized = (price - book.avg) * closed * sign * tv
            new_pos = pos + side * qty
            book.position = new_pos
            if new_pos == 0:
                book.avg = 0.0
            elif qty > apos:
                book.avg = float(price)  # flipped: the remainder opens at the fill price
            book.realized += realized
            self._realized_total += realized
        self.cash -= side * qty * price * tv + fee
        book.fees += fee
        self.fees += fee
        self.fees_by_instrument[instrument] = book.fees
        book.fill_count += 1
        book.traded_qty += qty
        self.fill_count += 1
        self.traded_qty += qty
        self._update_drawdown(ts)
        return realized

    def mark(self, instrument: int, price: float, ts: int) -> int:
        """Set the mark-to-market price (ticks) of ``instrument``; return its position."""
        return self._book(instrument).mark_at(price, ts)

    def mark_record(self, instrument: int) -> _Book:
        """The record :meth:`mark` updates for ``instrument`` (``mark``, ``mark_ts``, ``position``,
        ``mark_at``): what a caller that marks on every top change keeps. Raises for an unknown
        instrument."""
        return self._book(instrument)

    @property
    def last_ts(self) -> int:
        """Time of the last valuation: the latest mark or fill (time only moves forward)."""
        ts = self._pnl_ts
        for b in self._books.values():
            if b.mark_ts > ts:
                ts = b.mark_ts
        return ts

    def _update_drawdown(self, ts: int) -> None:
        self._pnl_ts = ts
        net = self.net_pnl
        if net > self.peak_pnl:
            self.peak_pnl = net
        dd = self.peak_pnl - net
        if dd > self.max_drawdown:
            self.max_drawdown = dd

    # -- queries ---------------------------------------------------------------

    def tick_value(self, instrument: int) -> float:
        """Currency value of one tick for one lot of ``instrument``."""
        return self._book(instrument).tick_value

    def position(self, instrument: int) -> int:
        """Signed position in lots (0 for an unknown or untouched instrument)."""
        book = self._books.get(instrument)
        return 0 if book is None else book.position

    def avg_price(self, instrument: int) -> float:
        """Average entry price (ticks) of the open position; 0 when flat."""
        book = self._books.get(instrument)
        return 0.0 if book is None else book.avg

    def mark_price(self, instrument: int) -> int | None:
        """Last mark (ticks) of ``instrument``, or None if never marked."""
        book = self._books.get(instrument)
        return None if book is None else book.mark

    def realized_pnl(self, instrument: int | None = None) -> float:
        """Realized PnL before fees, of one instrument or in total."""
        if instrument is None:
            return self._realized_total
        book = self._books.get(instrument)
        return 0.0 if book is None else book.realized

    def unrealized_pnl(self, instrument: int | None = None) -> float:
        """``(mark - avg) * pos * tick_value``; 0 for an instrument never marked."""
        if instrument is None:
            total = 0  # as sum(): int 0 plus each book's float, in book order
            for b in self._books.values():
                if b.mark is not None and b.position:
                    total += (b.mark - b.avg) * b.position * b.tick_value
                else:
                    total += 0.0
            return total
        book = self._books.get(instrument)
        return 0.0 if book is None else book.unrealized()

    @property
    def equity(self) -> float:
        """Cash plus the marked value of all positions."""
        return self.cash + sum(b.position * b.value_price() * b.tick_value for b in self._books.values())

    @property
    def net_pnl(self) -> float:
        """Realized + unrealized - fees."""
        return self._realized_total + self.unrealized_pnl() - self.fees

    @property
    def peak_equity(self) -> float:
        """Highest equity seen at any fill or mark (starting cash at first)."""
        return self.starting_cash + self.peak_pnl

    @property
    def drawdown(self) -> float:
        """Current drawdown: peak net PnL minus current net PnL (>= 0)."""
        return max(0.0, self.peak_pnl - self.net_pnl)

    def gross_exposure(self) -> float:
        """Sum of ``|pos * mark| * tick_value`` (unmarked positions at average price)."""
        return sum(abs(b.position * b.value_price()) * b.tick_value for b in self._books.values())

    def gross_position(self) -> int:
        """Sum of absolute positions in lots across instruments."""
        return sum(abs(b.position) for b in self._books.values())

    def snapshot(self) -> dict:
        """Plain JSON-able state: per-instrument detail (keyed by str id) and totals."""
        instruments = {
            str(k): {
                "position": b.position,
                "avg_price": b.avg,
                "mark": b.mark,
                "realized_pnl": b.realized,
                "unrealized_pnl": b.unrealized(),
                "fees": b.fees,
                "fill_count": b.fill_count,
                "traded_qty": b.traded_qty,
            }
            for k, b in sorted(self._books.items())
        }
        return {
            "ts": self.last_ts,
            "cash": self.cash,
            "starting_cash": self.starting_cash,
            "equity": self.equity,
            "realized_pnl": self._realized_total,
            "unrealized_pnl": self.unrealized_pnl(),
            "fees": self.fees,
            "net_pnl": self.net_pnl,
            "peak_equity": self.peak_equity,
            "max_drawdown": self.max_drawdown,
            "gross_exposure": self.gross_exposure(),
            "gross_position": self.gross_position(),
            "fill_count": self.fill_count,
            "traded_qty": self.traded_qty,
            "instruments": instruments,
        }
