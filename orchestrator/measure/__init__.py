"""Measurement: probes, heartbeat writer + ledger, RTO/RPO computation (DESIGN section 7).

* ``base`` — the ScenarioObserver protocol the engine drives, result types;
* ``observer`` — ``ProbeTargets`` + ``build_observer``: what providers return;
* ``probes`` — TCP, SQL heartbeat (write + read), dataset, HTTP probes (registry);
* ``loop`` — one probe on a fixed-interval grid, hanging attempts never delay it;
* ``ledger`` / ``survivors`` — acknowledged commits, and which of them survived;
* ``compute`` — restoration, outage, RPO and lost writes: pure functions;
* ``report`` — measurements with method, interval and error bound, stored series;
* ``samples`` — the sample type and its compact (zlib) storage.
"""
