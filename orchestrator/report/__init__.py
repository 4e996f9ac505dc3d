"""Renderers of evidence: one base class, one subclass per output format."""
