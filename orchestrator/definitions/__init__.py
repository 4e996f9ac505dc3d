"""Typed models and loaders for experiments, runbooks and drills."""
