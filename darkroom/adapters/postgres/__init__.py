"""PostgreSQL-only adapters (Aurora PostgreSQL on AWS): pgvector search and tsvector full text.
The catalog and queue on PostgreSQL are the shared SQL adapters in `adapters/sql`."""
