"""CLI command groups. Each module exposes Typer commands and imports heavy things lazily."""
