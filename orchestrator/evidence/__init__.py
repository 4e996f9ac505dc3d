"""Evidence: the journal, its projection tables (records), the one writer, verify, export."""
