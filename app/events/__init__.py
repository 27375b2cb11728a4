"""The app's events: ingestion, presence and spoof checks (``POST /v1/events``).

``schemas`` holds the tagged union of event kinds and the answers, ``queries`` the SQL,
``services`` the pipeline (one concern per module) and ``controllers`` the thin HTTP layer.
"""

from app.events.controllers import EVENT_CONTROLLERS

__all__ = ["EVENT_CONTROLLERS"]
