"""The numba fast path: a compiled L3 book + matching engine with the reference semantics.

* :class:`FastMatchingEngine` (:mod:`venues.fast.engine`) is a drop-in twin of
  :class:`venues.matching.MatchingEngine` (same API, same reports in the same
  order) whose book and matching run in numba (:mod:`venues.fast.core`).
* :mod:`venues.fast.replay` replays an MD_DTYPE stream fully compiled (book
  maintained, no Python per event) and :mod:`venues.fast.compiled_strategy`
  runs a strategy written as a numba function inside that loop.

The kernels are compiled with ``cache=True``: the first import in a fresh
checkout compiles them (see the README of :mod:`venues.fast.core` for timings);
later processes load them from ``__pycache__``.
"""

from venues.fast.engine import FastMatchingEngine

__all__ = ["FastMatchingEngine"]
