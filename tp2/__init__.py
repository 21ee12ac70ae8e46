"""Shared helpers for the TP2 reproduction scripts: data, splits, tables and CLI errors."""

from tp2.cli import UserError

__all__ = ["UserError"]
