"""Akana API Platform transaction logs."""
