"""``kairos simulate``: a day of app traffic through the real API, and its report.

* :mod:`.itinerary` — a customer's day as stops; :mod:`.paths` — plausible days for the
  demo's personas (the story customers follow :mod:`app.demo.stories`).
* :mod:`.traffic` — what the phones and the tills send, with real phones' imperfections.
* :mod:`.driver` — moves the server's simulation clock and posts the traffic, minute by
  minute, with each customer's token.
* :mod:`.results`, :mod:`.storycheck`, :mod:`.invariants` — what the day produced, whether
  every acceptance story happened, whether the invariants held.
* :mod:`.report` — the terminal summary and the self-contained HTML report;
  :mod:`.command` — the command itself.
"""
