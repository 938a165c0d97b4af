"""The package layout keeps its promises (README, "Development" > layout)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tap_ticketlogs"


def is_sandbox(name: str) -> bool:
    """The sandbox package, or a vendor's simulator beside it (``sources.<vendor>.sandbox``)."""
    return "sandbox" in name.split(".")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved, ``from x import y`` as x.y."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def production_modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if not is_sandbox(module_name(path))]


def test_no_module_outside_the_sandbox_imports_it() -> None:
    modules = production_modules()
    assert len(modules) > 30  # the whole tap, not an empty glob
    importers = {
        module_name(path): sorted(name for name in imported_modules(path) if is_sandbox(name))
        for path in modules
    }
    assert {name: found for name, found in importers.items() if found} == {}


def test_loading_the_whole_tap_does_not_load_the_sandbox() -> None:
    # Also catches an import the source scan cannot see (importlib, a plugin entry point).
    names = [module_name(path) for path in production_modules()]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sum(m.startswith('tap_ticketlogs') for m in sys.modules))\n"
        "print(','.join(sorted(m for m in sys.modules if 'sandbox' in m.split('.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded_count, loaded_sandbox = result.stdout.split("\n")[:2]
    assert int(loaded_count) >= len(names)
    assert loaded_sandbox == ""


def test_every_registered_source_is_one_declaration_its_streams_agree_with() -> None:
    from tap_ticketlogs.sources.registry import SOURCES  # noqa: PLC0415
    from tap_ticketlogs.tap import TapTicketLogs  # noqa: PLC0415

    assert [source.name for source in SOURCES] == ["tixngo", "akana", "socialboards", "huawei"]
    settings = TapTicketLogs.config_jsonschema["properties"]
    for source in SOURCES:
        assert settings[source.name]["title"] == source.label
        assert source.streams
        for stream_type in source.streams:
            assert (stream_type.source, stream_type.source_label) == (source.name, source.label)
