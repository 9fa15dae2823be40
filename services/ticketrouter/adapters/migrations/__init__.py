"""Alembic's script directory: one revision per schema change, the baseline first."""
