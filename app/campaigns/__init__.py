"""Campaigns: what may be sent, to whom, in which stores, and how often.

Managers write them (``/v1/campaigns``); the decision policy reads the active ones of a store.
"""

from __future__ import annotations

__all__: list[str] = []
