"""SQL adapters on SQLAlchemy Core: SQLite on one machine, PostgreSQL (Aurora) beyond it."""
