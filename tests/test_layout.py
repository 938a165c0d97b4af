"""The package layout keeps its promises (docs/architecture.md, docs/development.md)."""

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

    assert {"tixngo", "akana", "socialboards", "huawei"} <= {source.name for source in SOURCES}
    settings = TapTicketLogs.config_jsonschema["properties"]
    for source in SOURCES:
        assert (PACKAGE / "sources" / source.name / "__init__.py").exists()
        assert source.sandbox_module == f"tap_ticketlogs.sources.{source.name}.sandbox"
        assert settings[source.name]["title"] == source.label
        assert source.streams
        for stream_type in source.streams:
            assert (stream_type.source, stream_type.source_label) == (source.name, source.label)


def room_of(module: str) -> str:
    """The room a module lives in: its folder under the package (a vendor's simulator
    belongs to the sandbox), or the module itself at the top level."""
    parts = module.split(".")
    if is_sandbox(module):
        return "sandbox"
    return parts[1] if len(parts) > 1 else "tap_ticketlogs"


#: Which rooms each room may import: one direction, from the tap down to the shared layer.
ALLOWED_IMPORTS = {
    "errors": set(),
    "timeutil": set(),
    "quiet_logs": set(),
    "sdk_compat": {"timeutil"},
    "http": {"errors", "timeutil"},
    "settings": {"http", "errors", "timeutil"},
    "streams": {"http", "sdk_compat", "errors", "timeutil"},
    "sources": {"streams", "http", "settings", "sdk_compat", "errors", "timeutil"},
    "tap": {"sources", "streams", "http", "settings", "sdk_compat", "quiet_logs", "errors"},
    "cli": {"tap", "http", "errors"},
    "sandbox": {"sources"},
}


def package_imports() -> dict[str, set[str]]:
    """Every module of the package (the sandbox's too) and the package modules it imports.

    ``from package import module`` is an edge to the module; to the package only where a
    name of its ``__init__`` is imported (which runs first for every submodule anyway, so a
    submodule's own package is no edge).
    """
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in modules else node.module)
        graph[name] = {
            target
            for target in targets
            if target in modules and target != name and not name.startswith(target + ".")
        }
    return graph


def test_the_rooms_depend_on_each_other_in_one_direction() -> None:
    top_level = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert top_level == ["cli", "errors", "quiet_logs", "sdk_compat", "tap", "timeutil"]
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert folders == ["http", "sandbox", "settings", "sources", "streams"]
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in package_imports().items()
        for target in targets
        if room_of(target) != room_of(module)
        and room_of(target) not in ALLOWED_IMPORTS[room_of(module)]
    )
    assert wrong == []


def test_no_module_imports_itself_through_others() -> None:
    graph = package_imports()
    done: set[str] = set()

    def cycle_from(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in path:
            return (*path, module)
        if module in done:
            return None
        for target in sorted(graph[module]):
            found = cycle_from(target, (*path, module))
            if found:
                return found
        done.add(module)
        return None

    cycles = [cycle for module in sorted(graph) if (cycle := cycle_from(module, ()))]
    assert cycles == []


def test_every_stream_is_its_declarations_on_a_short_chain() -> None:
    from tap_ticketlogs.sources.registry import SOURCES  # noqa: PLC0415

    chains = {
        stream_type.__name__: [
            cls.__name__ for cls in stream_type.__mro__ if cls.__module__.startswith(PACKAGE.name)
        ]
        for source in SOURCES
        for stream_type in source.streams
    }
    assert len(chains) >= 6
    assert {name: chain for name, chain in chains.items() if len(chain) > 5} == {}
    for chain in chains.values():
        assert chain[-2:] == ["TicketLogsStream", "SDKStream"]


def test_every_record_reading_method_of_a_stream_names_unreadable_data() -> None:
    # get_records and post_process meet the API's values: each one the package defines is
    # marked @reads_records, so a value of the wrong type is the stream's one-line error.
    from tap_ticketlogs.sources.registry import SOURCES  # noqa: PLC0415

    unmarked = sorted(
        {
            f"{cls.__module__}.{cls.__name__}.{name}"
            for source in SOURCES
            for stream_type in source.streams
            for cls in stream_type.__mro__
            if cls.__module__.startswith(PACKAGE.name)
            for name in ("get_records", "post_process")
            if name in cls.__dict__ and not hasattr(cls.__dict__[name], "__wrapped__")
        }
    )
    assert unmarked == []
