"""Run by test_postgres_policy.py only (not collected: the name does not start with test_)."""

from __future__ import annotations


def test_needs_postgres(postgres_dsn: str) -> None:
    assert postgres_dsn
