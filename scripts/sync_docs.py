"""Regenerate the generated parts of docs/settings.md and meltano.yml from the tap itself.

    python scripts/sync_docs.py          # rewrite both files
    python scripts/sync_docs.py --check  # exit 1 if either is out of date (used by the tests)

docs/settings.md: the settings table between the `settings` markers is the output of
`tap-ticketlogs --about --format=markdown`. meltano.yml: the extractor's `settings:` block.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml
from meltano_settings import extractor_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_DOC = ROOT / "docs" / "settings.md"
MELTANO_YML = ROOT / "meltano.yml"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def about_settings_table() -> str:
    about = subprocess.run(  # noqa: S603 - our own command
        [str(Path(sys.executable).with_name("tap-ticketlogs")), "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = about.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| Setting"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return "\n".join(table)


def synced_settings_doc(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{about_settings_table()}\n{END}{tail}"


def synced_meltano_yml(text: str) -> str:
    """Replace the extractor's settings block, keeping every other line as written."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line == "    settings:\n")
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    - ") or lines[end].startswith("      ")):
        end += 1
    block = yaml.safe_dump(extractor_settings(), sort_keys=False, width=100)
    indented = "".join(f"    {line}\n" for line in block.splitlines())
    return "".join(lines[: start + 1]) + indented + "".join(lines[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path, sync in ((SETTINGS_DOC, synced_settings_doc), (MELTANO_YML, synced_meltano_yml)):
        current = path.read_text()
        wanted = sync(current)
        if current != wanted:
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(wanted)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/sync_docs.py", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
