"""The run engine: drill → scenarios → steps, rollbacks, abort, locks, recovery."""
