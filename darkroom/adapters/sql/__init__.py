"""SQL adapters on SQLAlchemy Core: SQLite on one machine, PostgreSQL (Aurora) when it is not enough."""
