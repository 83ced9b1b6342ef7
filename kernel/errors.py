"""The parity exception hierarchy.

Every error parity raises on purpose derives from :class:`ParityError` and
carries a message that names the file, field, record or order at fault.
"""

from __future__ import annotations

from typing import Any


class ParityError(Exception):
    """Base class of every error parity raises on purpose."""


class ScenarioError(ParityError):
    """A scenario file is missing, malformed or invalid."""


class DataError(ParityError):
    """Market data is malformed or inconsistent."""


class OrderRejected(ParityError):
    """An order was refused (by validation, the venue or the OMS)."""


class RiskViolation(ParityError):
    """A pre-trade risk check refused an order."""


class AdapterError(ParityError):
    """An external connection or adapter failed."""


class IllegalTransition(ParityError):
    """A state machine was asked for a transition its table does not allow."""


def validation_error(where: str, exc: Any, root: str = "<root>", quoted: bool = True) -> ScenarioError:
    """A pydantic ``ValidationError`` as a :class:`ScenarioError` naming ``where`` and every
    bad field (``root`` names a model-level error; ``quoted``: ``field 'x': ...`` else ``x: ...``)."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or root
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"field '{field}': {msg}" if quoted else f"{field}: {msg}")
    return ScenarioError(f"{where}: " + "; ".join(parts))
