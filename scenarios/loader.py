"""Loading scenario TOML files with errors that name the file and the field."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kernel.errors import ScenarioError
from scenarios.schema import Scenario

DEFAULT_SCENARIO = "default"


def bundled_scenarios() -> dict[str, Path]:
    """Names and paths of the scenarios shipped with parity."""
    folder = resources.files("scenarios") / "bundled"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def resolve(name_or_path: str | None) -> Path:
    """A bundled scenario name or a file path → the file path."""
    if name_or_path is None:
        name_or_path = DEFAULT_SCENARIO
    bundled = bundled_scenarios()
    if name_or_path in bundled:
        return bundled[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise ScenarioError(f"{name_or_path}: no such scenario file (bundled scenarios: {', '.join(sorted(bundled))})")
    return path


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_scenario(text: str, source: str = "<scenario>", overrides: dict[str, Any] | None = None) -> Scenario:
    """Parse and validate TOML text; errors name ``source`` and the field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: invalid TOML: {exc}") from exc
    raw.update(overrides or {})
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _loc(first["loc"])
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            msg = "unknown field"
        more = f" (and {exc.error_count() - 1} more errors)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{source}: {field}: {msg}{more}") from exc


def load_scenario(name_or_path: str | None = None, overrides: dict[str, Any] | None = None) -> tuple[Scenario, str]:
    """Load a bundled scenario by name or a TOML file; returns (scenario, its text)."""
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror}") from exc
    scenario = parse_scenario(text, str(path), overrides)
    scenario._base_dir = path.resolve().parent
    return scenario, text
