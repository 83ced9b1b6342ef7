"""parity orders and instruments <-> ib_insync orders and contracts.

Inside parity prices are integer ticks and sizes integer lots; IB speaks
prices and share/contract quantities. The conversion goes through
:class:`kernel.instruments.Instrument` (``to_price`` / ``to_ticks`` /
``to_lots``), which refuses values off the tick or lot grid.

Supported: LIMIT (LMT), MARKET (MKT), STOP (STP), STOP_LIMIT (STP LMT);
GTC, DAY, IOC, FOK and GTD (``goodTillDate`` at whole-second resolution, UTC);
icebergs (``display_qty`` -> ``displaySize``). Post-only has no IB order
attribute, so a post-only order is refused rather than sent as a plain limit
order that could take liquidity.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ib_insync import Contract
from ib_insync import Order as IBOrder

from kernel.clock import NS_PER_S
from kernel.errors import OrderRejected
from kernel.instruments import Instrument
from kernel.orders import Order, OrderType, Side, TimeInForce

IB_ORDER_TYPE = {
    OrderType.LIMIT: "LMT",
    OrderType.MARKET: "MKT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
}
ORDER_TYPE_FROM_IB = {v: k for k, v in IB_ORDER_TYPE.items()}
IB_TIF = {
    TimeInForce.GTC: "GTC",
    TimeInForce.DAY: "DAY",
    TimeInForce.GTD: "GTD",
    TimeInForce.IOC: "IOC",
    TimeInForce.FOK: "FOK",
}
TIF_FROM_IB = {v: k for k, v in IB_TIF.items()}
GTD_FORMAT = "%Y%m%d %H:%M:%S"

# execDetails.lastLiquidity: 1 added (maker), 2 removed (taker), 3 routed out.
LIQUIDITY_TO_IB = {"M": 1, "T": 2}
LIQUIDITY_FROM_IB = {1: "M", 2: "T"}


def contract_for(instrument: Instrument, exchange: str = "SMART", sec_type: str = "STK", con_id: int = 0) -> Contract:
    """The IB contract of an instrument (symbol, currency and the configured exchange / type)."""
    return Contract(
        secType=sec_type,
        conId=con_id,
        symbol=instrument.symbol,
        exchange=exchange,
        currency=instrument.currency,
        multiplier="" if instrument.multiplier == 1 else _num(instrument.multiplier),
    )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def qty_to_ib(lots: int, instrument: Instrument) -> float:
    """Lots -> IB quantity (shares / contracts)."""
    return float(lots * instrument.lot_size)


def qty_from_ib(quantity: float, instrument: Instrument) -> int:
    """IB quantity -> lots (refused when not a whole number of lots)."""
    return instrument.to_lots(_clean(quantity))


def price_to_ib(ticks: int, instrument: Instrument) -> float:
    return instrument.to_price(ticks)


def price_from_ib(price: float, instrument: Instrument) -> int:
    """IB price -> ticks (refused when off the tick grid)."""
    return instrument.to_ticks(_clean(price))


def _clean(x: float) -> str:
    """Shortest decimal text of a float, so 100.01 stays 100.01 on the grid."""
    return repr(float(x))


def gtd_to_ib(expire_ts: int) -> str:
    """expire_ts (ns) -> IB goodTillDate text (UTC, whole seconds rounded up)."""
    seconds = -(-int(expire_ts) // NS_PER_S)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(GTD_FORMAT) + " UTC"


def gtd_from_ib(text: str) -> int:
    """IB goodTillDate text (``YYYYMMDD HH:MM:SS[ UTC]``) -> ns."""
    body = text.strip()
    if body.upper().endswith(" UTC"):
        body = body[:-4]
    dt = datetime.strptime(body, GTD_FORMAT).replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS_PER_S


def to_ib_order(order: Order, instrument: Instrument, account: str = "", order_ref: str = "") -> IBOrder:
    """A parity order as an ib_insync Order (orderId is set by the caller)."""
    if order.post_only:
        raise OrderRejected(f"order {order.order_id}: IB has no post-only order attribute; not sent")
    try:
        order_type = IB_ORDER_TYPE[OrderType(order.order_type)]
        tif = IB_TIF[TimeInForce(order.tif)]
    except (KeyError, ValueError):
        raise OrderRejected(f"order {order.order_id}: unsupported type/tif {order.order_type}/{order.tif}") from None
    ib = IBOrder(
        action="BUY" if order.side == Side.BUY else "SELL",
        totalQuantity=qty_to_ib(order.qty, instrument),
        orderType=order_type,
        tif=tif,
        account=account,
        orderRef=order_ref,
        transmit=True,
    )
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        ib.lmtPrice = price_to_ib(order.price, instrument)
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        ib.auxPrice = price_to_ib(order.stop_price, instrument)
    if order.display_qty:
        ib.displaySize = int(qty_to_ib(order.display_qty, instrument))
    if order.tif == TimeInForce.GTD:
        if order.order_type == OrderType.MARKET or not order.expire_ts:
            raise OrderRejected(f"order {order.order_id}: GTD needs expire_ts and a non-market order")
        ib.goodTillDate = gtd_to_ib(order.expire_ts)
    return ib


def order_from_ib(ib: IBOrder, instrument: Instrument, order_id: int = 0, owner: int = 1) -> Order:
    """An ib_insync Order (as decoded from the wire) as a parity order."""
    try:
        otype = ORDER_TYPE_FROM_IB[ib.orderType]
    except KeyError:
        raise OrderRejected(f"order {ib.orderId}: unsupported IB order type {ib.orderType!r}") from None
    tif_text = ib.tif or "DAY"
    if tif_text not in TIF_FROM_IB:
        raise OrderRejected(f"order {ib.orderId}: unsupported IB time in force {tif_text!r}")
    tif = TIF_FROM_IB[tif_text]
    side = Side.BUY if ib.action.upper() in ("BUY", "BOT") else Side.SELL
    price = price_from_ib(ib.lmtPrice, instrument) if otype in (OrderType.LIMIT, OrderType.STOP_LIMIT) else 0
    stop = price_from_ib(ib.auxPrice, instrument) if otype in (OrderType.STOP, OrderType.STOP_LIMIT) else 0
    display = qty_from_ib(ib.displaySize, instrument) if _is_set_int(ib.displaySize) else 0
    expire = gtd_from_ib(ib.goodTillDate) if tif == TimeInForce.GTD and ib.goodTillDate else 0
    return Order(
        order_id, instrument.id, side, qty_from_ib(ib.totalQuantity, instrument), price, otype, tif,
        stop_price=stop, display_qty=display, expire_ts=expire, owner=owner, tag=ib.orderRef or "",
    )  # fmt: skip


def _is_set_int(x: object) -> bool:
    return isinstance(x, int | float) and 0 < x < 2**31 - 1


def side_from_ib(action: str) -> Side:
    """BUY/BOT -> BUY, SELL/SLD -> SELL."""
    return Side.BUY if action.upper() in ("BUY", "BOT") else Side.SELL
