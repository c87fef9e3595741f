"""The one place where settings become adapters. Everything else receives ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from darkroom.adapters.local.bus import LocalEventBus
from darkroom.adapters.local.files import FileBlobStore
from darkroom.adapters.local.notifier import LocalNotifier
from darkroom.adapters.local.webhooks import Target, Webhooks
from darkroom.adapters.sql.catalog import SqlCatalog
from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.fulltext import SqliteTextIndex
from darkroom.adapters.sql.keys import SqlKeyStore
from darkroom.adapters.sql.queue import SqlQueue
from darkroom.adapters.sql.vectors import EmbeddedVectorIndex
from darkroom.engine.intake import Intake
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import RecipeBook
from darkroom.engine.runner import Engine
from darkroom.engine.search import Search
from darkroom.ports import BlobStore, EventBus, Notifier, Queue, TextIndex, VectorIndex
from darkroom.providers.registry import ProviderRegistry
from darkroom.settings import Settings
from darkroom.steps.base import StepPorts


class SettingsError(ValueError):
    """A setting names something darkroom cannot use."""


@dataclass
class Runtime:
    settings: Settings
    db: Database
    catalog: SqlCatalog
    queue: Queue
    bus: EventBus
    blobs: BlobStore
    notifier: Notifier
    webhooks: Webhooks
    keys: SqlKeyStore
    providers: ProviderRegistry
    vectors: VectorIndex
    text: TextIndex
    recipes: RecipeBook
    outbox: Outbox
    search: Search
    engine: Engine
    intake: Intake

    def close(self) -> None:
        self.db.dispose()


def blob_store(url: str) -> BlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileBlobStore(Path(parsed.netloc + parsed.path))
    raise SettingsError(f"DARKROOM_STORAGE: unsupported storage {url!r} (use file://DIR)")


def queue_for(url: str, db: Database) -> Queue:
    if url in {"local", "database"}:
        return SqlQueue(db)
    raise SettingsError(f"DARKROOM_QUEUE: unsupported queue {url!r} (use local)")


def indexes_for(db: Database) -> tuple[VectorIndex, TextIndex]:
    """The search indexes that live beside the catalog: embedded ones on SQLite, pgvector and
    tsvector on PostgreSQL."""
    if db.is_sqlite:
        return EmbeddedVectorIndex(db), SqliteTextIndex(db)
    from darkroom.adapters.postgres.fulltext import PostgresTextIndex
    from darkroom.adapters.postgres.vectors import PgVectorIndex

    return PgVectorIndex(db), PostgresTextIndex(db)


def build(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    db = Database(settings.database_url)
    catalog = SqlCatalog(db)
    queue = queue_for(settings.queue, db)
    blobs = blob_store(settings.storage_url)
    webhooks = Webhooks(db)
    target = (
        Target(settings.notify_webhook_url, settings.notify_webhook_secret)
        if settings.notify_webhook_url
        else None
    )
    notifier = LocalNotifier(webhooks, target)
    bus = LocalEventBus()
    bus.subscribe(webhooks.fan_out)
    providers = ProviderRegistry()
    recipes = RecipeBook(settings.recipes_dir)
    vectors, text = indexes_for(db)
    ports = StepPorts(
        blobs=blobs,
        catalog=catalog,
        notifier=notifier,
        providers=providers,
        vectors=vectors,
        text=text,
    )
    outbox = Outbox(catalog, bus)
    engine = Engine(catalog, queue, outbox, ports, recipes, settings.limits)
    intake = Intake(catalog, queue, blobs, recipes, settings.limits, outbox)
    return Runtime(
        settings=settings,
        db=db,
        catalog=catalog,
        queue=queue,
        bus=bus,
        blobs=blobs,
        notifier=notifier,
        webhooks=webhooks,
        keys=SqlKeyStore(db),
        providers=providers,
        vectors=vectors,
        text=text,
        recipes=recipes,
        outbox=outbox,
        search=Search(
            vectors,
            text,
            providers,
            settings.limits,
            settings.embedder,
            settings.embedder_options,
        ),
        engine=engine,
        intake=intake,
    )
