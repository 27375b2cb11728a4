"""The demo: a believable London chain, its customers, and a local push receiver.

* :mod:`.city` — the stores (real-looking OSM hours), their geofences and the campaigns.
* :mod:`.people` — about 500 customers with histories that make every acceptance story of
  the design happen on the demo day, and the scripted story customers.
* :mod:`.seed` — ``kairos demo seed``: loads all of it through the services the API uses.
* :mod:`.reset` — ``kairos demo reset``: removes demo data only (every demo id starts with
  ``demo-``), and clears a previous simulation's traffic.
* :mod:`.receiver` — ``kairos demo receiver``: the signed-webhook push relay the demo's
  devices are registered on; it records what arrives and posts receipts back.
* :mod:`.environment` — the demo's secrets and files, and what ``kairos serve --demo`` sets.
* :mod:`.commands` — the ``kairos demo`` commands and ``serve --demo``.

Development only: the seed, the receiver and the simulation refuse ``KAIROS_ENV=production``.
"""

from __future__ import annotations

from app.demo.city import DEMO_DAY, DEMO_PREFIX

__all__ = ["DEMO_DAY", "DEMO_PREFIX"]
