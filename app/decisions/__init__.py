"""The timing brain: decide whether, what and when to invite, and explain it (issue 12).

* :mod:`.policy` — ``decide(inputs, now) -> Decision``, pure (no I/O, no clock); its private
  helpers ``_state``, ``_gates``, ``_selection`` and ``_messages``.
* :mod:`.inputs` — what the policy decides on (store, event, campaigns, settings).
* :mod:`.reasons` — the reason codes, their precedence and one sentence builder each.
* :mod:`.settings` — :class:`~app.decisions.settings.PolicySettings`, every knob documented.
* :mod:`.services` — ``load_decision_inputs`` and ``record_decision`` for the ingest path;
  list, explain, replay, preview; the policy settings resource.
* :mod:`.schemas`, :mod:`.queries`, :mod:`.controllers` — API bodies, SQL, routes.

Nothing is imported here: ``import app.decisions.policy`` loads the policy and its inputs,
not the routes.
"""
