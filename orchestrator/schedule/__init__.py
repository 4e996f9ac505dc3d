"""Scheduled chaos, quarterly drills and game days (DESIGN section 9).

* :mod:`.records` — evidence tables: schedules, fires (one row per fire time, unique,
  which is what makes several schedulers fire each job exactly once), game days.
* :mod:`.models` — operational tables (ORM, not evidence): scheduler instances'
  heartbeats, webhook URLs, and APScheduler's own job table.
* :mod:`.specs` — ``--cron/--every/--at`` and drill ``schedule:`` fields → triggers.
* :mod:`.blackout` — change-freeze windows from drill.yaml.
* :mod:`.schedules` — add / list / remove / sync (library side of ``drill schedule``).
* :mod:`.fire` — what happens when a schedule fires (claim, blackout, child run, notify).
* :mod:`.service` — ``drill scheduler run``: APScheduler 3.x with drill's job store
  (:mod:`.aps`, jobs as JSON: :mod:`.jobrows`) in the evidence database.
* :mod:`.compliance` — ``drill status``: last run, last success, next due, overdue,
  and missed periods as findings.
* :mod:`.gameday` — game days: announce, render runbooks, run, summarise.
"""
