"""Decision services: the ingest pipeline, explanations, and the policy settings resource.

* :mod:`.pipeline` — :func:`load_decision_inputs` and :func:`record_decision`, what the
  ingest path calls around the pure :func:`app.decisions.policy.decide`.
* :mod:`.explanations` — list, explain, replay and preview decisions.
* :mod:`.policy_settings` — read and version the policy settings.
"""

from app.decisions.services.explanations import (
    get_decision,
    list_decisions,
    preview_decision,
    replay_decision,
)
from app.decisions.services.pipeline import (
    RecordedDecision,
    active_campaigns,
    explain,
    load_decision_inputs,
    record_decision,
)
from app.decisions.services.policy_settings import get_policy, put_policy

__all__ = [
    "RecordedDecision",
    "active_campaigns",
    "explain",
    "get_decision",
    "get_policy",
    "list_decisions",
    "load_decision_inputs",
    "preview_decision",
    "put_policy",
    "record_decision",
    "replay_decision",
]
