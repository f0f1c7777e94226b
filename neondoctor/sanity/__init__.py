"""The deployment sanity sequence (health, schema, tables, round trip, fresh-process re-read)."""
