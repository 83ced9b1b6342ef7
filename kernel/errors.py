"""The parity exception hierarchy.

Every error parity raises on purpose derives from :class:`ParityError` and
carries a message that names the file, field, record or order at fault.
"""

from __future__ import annotations


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
