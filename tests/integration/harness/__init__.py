"""Helpers for Karri's integration tests (fixtures live in ../conftest.py)."""
