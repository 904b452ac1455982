"""Cabbage's widget panel: the <Cabbage> section of a .csd as the panel model of docs/panels.md.

A stand-in until the Cabbage reader lands (branch panels-cabbage): no panel yet.
"""
from __future__ import annotations


def panel_of_cabbage(csd: bytes) -> dict | None:
    """The .csd's Cabbage panel as the panel model, or None (not read yet)."""
    return None
