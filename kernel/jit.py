"""Where numba keeps its compiled-code cache.

numba's ``cache=True`` writes next to the source file when that folder is
writable. For a regular (non-editable) install that is ``site-packages``: the
cache files then outlive ``pip uninstall`` and a stale ``venues/fast/__pycache__``
left there shadows a later editable install as an empty namespace package.
parity therefore keeps the cache in a per-user directory unless the user chose
one with ``NUMBA_CACHE_DIR``:

``$PARITY_CACHE_DIR/numba``, else ``$XDG_CACHE_HOME/parity/numba``, else
``~/.cache/parity/numba``; below it one folder per version of the compiled
sources (:func:`source_stamp`). numba checks only the file of the function
it loads: a cached function that inlined or linked code from another module
(the fully compiled strategy loop holds a copy of the engine's kernels) would
otherwise keep running the old code after that module changed - seen as a
hang when the engine's book layout changed under a cached loop. numba mirrors
each source file's full path below the folder, so two installs never share
entries.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# Where numba-compiled code lives, and the modules whose layouts it compiles in.
_PACKAGES = ("kernel", "venues", "adapters")
_ALWAYS = ("kernel/events.py", "kernel/jit_hints.py")


def source_stamp(root: Path = _ROOT) -> str:
    """A short hash of every parity source that numba compiles (files with ``cache=True``
    below kernel/, venues/ and adapters/, and the event layout): any change to one makes a
    new cache folder."""
    h = hashlib.sha1()
    files = {root / f for f in _ALWAYS}
    for pkg in _PACKAGES:
        files.update(p for p in (root / pkg).rglob("*.py") if "cache=True" in p.read_text(errors="replace"))
    for p in sorted(files):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def numba_cache_dir() -> Path:
    """The directory parity asks numba to cache compiled functions in."""
    if os.environ.get("PARITY_CACHE_DIR"):
        return Path(os.environ["PARITY_CACHE_DIR"]) / "numba"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "parity" / "numba"


def configure_numba_cache() -> None:
    """Point numba's cache at :func:`numba_cache_dir` (call before any ``@njit(cache=True)``).

    A user-set ``NUMBA_CACHE_DIR`` wins. When the directory cannot be created
    numba falls back to its own locations, so this never makes caching fail.
    """
    from numba.core import config

    if os.environ.get("NUMBA_CACHE_DIR") or config.CACHE_DIR:
        return
    path = numba_cache_dir() / source_stamp()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    config.CACHE_DIR = str(path)


configure_numba_cache()
