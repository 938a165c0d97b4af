"""Orchestrator definitions that run this Meltano project (not part of the tap's wheel)."""
