"""Where numba keeps its compiled-code cache.

numba's ``cache=True`` writes next to the source file when that folder is
writable. For a regular (non-editable) install that is ``site-packages``: the
cache files then outlive ``pip uninstall`` and a stale ``venues/fast/__pycache__``
left there shadows a later editable install as an empty namespace package.
parity therefore keeps the cache in a per-user directory unless the user chose
one with ``NUMBA_CACHE_DIR``:

``$PARITY_CACHE_DIR/numba``, else ``$XDG_CACHE_HOME/parity/numba``, else
``~/.cache/parity/numba``. numba mirrors each source file's full path below it,
so two installs never share entries.
"""

from __future__ import annotations

import os
from pathlib import Path


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
    path = numba_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    config.CACHE_DIR = str(path)


configure_numba_cache()
