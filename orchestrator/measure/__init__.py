"""Measurement: probes, heartbeat writer + ledger, RTO/RPO computation."""
