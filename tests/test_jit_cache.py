"""numba's compiled-code cache lives outside the installed package (kernel.jit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Only kernel.jit is imported: compiling the engine into an empty cache would take many seconds.
_PROBE = (
    "import json, numba.core.config as c, kernel.jit as j; "
    "print(json.dumps({'cache': c.CACHE_DIR, 'chosen': str(j.numba_cache_dir()), 'src': j.__file__, "
    "'stamp': j.source_stamp()}))"
)


def _probe(env_updates: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "NUMBA_CACHE_DIR"}
    env.update(env_updates)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cache_goes_to_parity_cache_dir_not_next_to_the_source(tmp_path: Path) -> None:
    got = _probe({"PARITY_CACHE_DIR": str(tmp_path)})
    assert got["cache"] == str(tmp_path / "numba" / got["stamp"])
    assert not got["cache"].startswith(str(Path(got["src"]).parent.parent))
    assert (tmp_path / "numba" / got["stamp"]).is_dir()


def test_xdg_cache_home_is_used_without_parity_cache_dir(tmp_path: Path) -> None:
    got = _probe({"XDG_CACHE_HOME": str(tmp_path)}, drop=("PARITY_CACHE_DIR",))
    assert got["cache"] == str(tmp_path / "parity" / "numba" / got["stamp"])


def test_user_numba_cache_dir_wins(tmp_path: Path) -> None:
    got = _probe({"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "PARITY_CACHE_DIR": str(tmp_path)})
    assert got["cache"] == str(tmp_path / "mine")


def test_every_cached_numba_module_sets_the_location_first() -> None:
    import numba.core.config as config

    import adapters.feeds.itch_fast  # noqa: F401
    import venues.fast.core  # noqa: F401

    assert "kernel.jit" in sys.modules
    assert config.CACHE_DIR
    root = Path(__file__).resolve().parent.parent
    for path in list(root.glob("venues/**/*.py")) + list(root.glob("adapters/**/*.py")):
        text = path.read_text()
        if "cache=True" in text and "from numba import" in text:
            assert "import kernel.jit" in text, f"{path} caches numba code without kernel.jit"


def test_a_change_to_any_compiled_source_moves_the_cache_folder(tmp_path: Path) -> None:
    """numba checks only a cached function's own file; the folder follows every compiled source."""
    import shutil

    from kernel.jit import source_stamp

    root = Path(__file__).resolve().parent.parent
    for pkg in ("kernel", "venues", "adapters"):
        shutil.copytree(root / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_stamp(tmp_path)
    assert before == source_stamp(root)
    core = tmp_path / "venues" / "fast" / "core.py"
    core.write_text(core.read_text() + "\n# changed\n")
    assert source_stamp(tmp_path) != before
    plain = tmp_path / "kernel" / "errors.py"  # no compiled code: no new folder
    stamp = source_stamp(tmp_path)
    plain.write_text(plain.read_text() + "\n# changed\n")
    assert source_stamp(tmp_path) == stamp
    events = tmp_path / "kernel" / "events.py"  # the event layout the loops compile in
    events.write_text(events.read_text() + "\n# changed\n")
    assert source_stamp(tmp_path) != stamp
    stamp = source_stamp(tmp_path)
    hints = tmp_path / "kernel" / "jit_hints.py"  # intrinsics compiled into the loops, no cache=True of its own
    hints.write_text(hints.read_text() + "\n# changed\n")
    assert source_stamp(tmp_path) != stamp
