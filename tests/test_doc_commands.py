"""Every shell block a user would type, in README.md and docs/, is run by a test or says why not.

A fenced ``sh`` block is preceded by one of two HTML comments (invisible on GitHub):
``<!-- run-by: tests/test_x.py::test_name -->``, naming the test that runs it, or
``<!-- not-run: reason -->``. A new block without either fails here, naming it; a run-by that
names a test that does not exist fails too. The sandbox block of docs/sandbox.md is run here,
and every relative link of these files is checked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
FENCE = re.compile(r"^```(sh|bash|shell|console)\s*$")
RUN_BY = re.compile(r"^<!-- run-by: (?P<path>tests/[\w/]+\.py)::(?P<test>\w+) -->$")
NOT_RUN = re.compile(r"^<!-- not-run: (?P<reason>.{10,}) -->$")
SANDBOX_MARKER = (
    "<!-- run-by: tests/test_doc_commands.py::test_the_sandbox_docs_block_runs_as_written -->"
)


@dataclass(frozen=True)
class ShellBlock:
    doc: Path
    line: int  # of the opening fence, 1-based
    marker: str  # the comment line before it, or "" when there is none
    text: str

    def __str__(self) -> str:
        first = self.text.splitlines()[0] if self.text else ""
        return f"{self.doc.relative_to(ROOT)}:{self.line}: {first}"


def shell_blocks(doc: Path) -> list[ShellBlock]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        if FENCE.match(lines[index]):
            end = lines.index("```", index + 1)
            before = [line for line in lines[:index] if line.strip()]
            marker = before[-1] if before and before[-1].startswith("<!--") else ""
            blocks.append(ShellBlock(doc, index + 1, marker, "\n".join(lines[index + 1 : end])))
            index = end
        index += 1
    return blocks


def every_block() -> list[ShellBlock]:
    return [block for doc in DOCS for block in shell_blocks(doc)]


def test_the_docs_have_shell_blocks_to_check() -> None:
    blocks = every_block()
    assert len(blocks) >= 10
    assert any(block.doc.name == "README.md" for block in blocks)


def test_every_shell_block_is_run_by_a_test_or_says_why_not() -> None:
    unmarked = [str(block) for block in every_block() if not block.marker]
    assert not unmarked, "add <!-- run-by: ... --> or <!-- not-run: reason --> before:\n" + (
        "\n".join(unmarked)
    )
    malformed = [
        f"{block}: {block.marker}"
        for block in every_block()
        if not (RUN_BY.match(block.marker) or NOT_RUN.match(block.marker))
    ]
    assert not malformed


def test_every_run_by_names_a_test_that_exists() -> None:
    missing = []
    for block in every_block():
        if match := RUN_BY.match(block.marker):
            module = ROOT / match["path"]
            if not module.is_file() or f"def {match['test']}(" not in module.read_text():
                missing.append(f"{block}: {match['path']}::{match['test']}")
    assert not missing


def test_the_sandbox_docs_block_runs_as_written(tmp_path: Path) -> None:
    blocks = shell_blocks(ROOT / "docs" / "sandbox.md")
    (block,) = [block for block in blocks if block.marker == SANDBOX_MARKER]
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.text],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    messages = [json.loads(line) for line in (tmp_path / "messages.jsonl").read_text().splitlines()]
    streams = {message["stream"] for message in messages if message["type"] == "RECORD"}
    assert streams == {
        "akana_transaction_logs",
        "huawei_case_operate_logs",
        "huawei_cases",
        "socialboards_ticket_logs",
        "socialboards_tickets",
        "tixngo_ticket_status_logs",
    }
    assert messages[-1]["type"] == "STATE"


def test_every_relative_link_in_the_docs_resolves() -> None:
    # The README's text moved to docs/: a link left pointing at the old place fails here.
    broken = [
        f"{doc.relative_to(ROOT)}: {target}"
        for doc in DOCS
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8"))
        if not target.startswith(("http://", "https://")) and not (doc.parent / target).exists()
    ]
    assert not broken
