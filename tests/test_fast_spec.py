"""The reference engine's own test suites, run against the fast engine.

tests/test_matching.py (exact behaviour: every order type, STP mode, amend
rule, report) and tests/test_matching_props.py (hypothesis invariants and
quantity conservation) are the specification in executable form. This module
loads their source with ``MatchingEngine`` bound to
:class:`venues.fast.FastMatchingEngine`, so every test there also runs here
(with an ``fast_`` prefix), and stays in step when they change.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from venues.fast import FastMatchingEngine

_HERE = Path(__file__).resolve().parent
# Tests about the reference module itself rather than the engine behaviour.
_SKIP = {"test_benchmark_smoke"}


def _import_suite(filename: str) -> None:
    path = _HERE / filename
    module = types.ModuleType(f"tests._fast_spec_{path.stem}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module  # dataclasses look their module up
    ns = module.__dict__
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)
    ns["MatchingEngine"] = FastMatchingEngine  # the suites' functions look it up at call time
    for name, obj in ns.items():
        if name.startswith("test_") and callable(obj) and name not in _SKIP:
            globals()[f"test_fast_{name[5:]}"] = obj
        elif type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(obj, "_pytestfixturefunction"):
            globals()[name] = obj  # fixtures (e.g. `r`) the tests ask for


_import_suite("test_matching.py")
_import_suite("test_matching_props.py")
