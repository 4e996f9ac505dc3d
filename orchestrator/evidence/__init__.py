"""The evidence store: SQLModel tables, migrations, and the store API."""
