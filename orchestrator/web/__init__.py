"""`drill serve`: a read-only web dashboard and Prometheus metrics (DESIGN section 15).

* :mod:`.app` — the Starlette application: routes, bearer-token check, error pages.
* :mod:`.pages` — each page's JSON document (the same builders as the `--json`
  commands, from :mod:`orchestrator.views`) and what its template adds.
* :mod:`.charts` — the inline SVG charts (no script, no CDN: works offline).
* :mod:`.metrics` — the Prometheus collector, also served by the scheduler's health port.

Starlette, uvicorn and prometheus-client are imported only here, so `drill --help`
and every other command never pay for them.
"""
