"""Chaos Toolkit controls used by the corpus."""
