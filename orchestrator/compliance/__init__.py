"""Compliance frameworks as data: one YAML file per framework (control → evidence kinds)."""
