"""The database adapter's own set-up: a database made by an older release gets what a newer one
added (create_all alone makes a table's indexes only when it makes the table)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.schema import metadata


def index_names(db: Database, table: str) -> set[str]:
    return {index["name"] for index in inspect(db.engine).get_indexes(table) if index["name"]}


def test_an_index_added_since_the_database_was_made_is_created_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    first = Database(url)
    wanted = {index.name for index in metadata.tables["images"].indexes}
    assert "ix_images_owner_counts" in wanted and index_names(first, "images") >= wanted
    with first.engine.begin() as conn:  # as a database made before the index existed
        conn.execute(text("DROP INDEX ix_images_owner_counts"))
    assert "ix_images_owner_counts" not in index_names(first, "images")
    first.dispose()
    reopened = Database(url)
    assert index_names(reopened, "images") >= wanted
    reopened.dispose()
