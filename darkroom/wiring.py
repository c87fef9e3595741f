"""The one place where settings become adapters. Everything else receives ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from darkroom.adapters.local.bus import LocalEventBus
from darkroom.adapters.local.egress import EgressPolicy
from darkroom.adapters.local.files import FileBlobStore
from darkroom.adapters.local.notifier import LocalNotifier
from darkroom.adapters.local.webhooks import Target, Webhooks
from darkroom.adapters.sql.catalog import SqlCatalog
from darkroom.adapters.sql.claims import SqlClaims
from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.facets import SqlFacetIndex
from darkroom.adapters.sql.fulltext import SqliteTextIndex
from darkroom.adapters.sql.keys import SqlKeyStore
from darkroom.adapters.sql.portraits import SqlPortraitStore
from darkroom.adapters.sql.queue import SqlQueue
from darkroom.adapters.sql.reviews import SqlReviews
from darkroom.adapters.sql.vector_shard import GraphOptions
from darkroom.adapters.sql.vectors import EmbeddedVectorIndex
from darkroom.engine.consent import ConsentGate
from darkroom.engine.intake import Intake
from darkroom.engine.outbox import Outbox
from darkroom.engine.recipes import RecipeBook
from darkroom.engine.review import Reviewer
from darkroom.engine.runner import Engine
from darkroom.engine.search import Search
from darkroom.ports import (
    BlobStore,
    DetectionLog,
    EventBus,
    Notifier,
    Queue,
    TextIndex,
    VectorIndex,
)
from darkroom.providers.registry import ProviderRegistry
from darkroom.settings import Settings, VectorSearch
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
    claims: SqlClaims
    providers: ProviderRegistry
    vectors: VectorIndex
    text: TextIndex
    detections: DetectionLog
    recipes: RecipeBook
    outbox: Outbox
    search: Search
    engine: Engine
    intake: Intake
    reviews: SqlReviews
    portraits: SqlPortraitStore | None = None  # consents and portrait requests

    def close(self) -> None:
        self.db.dispose()

    @property
    def reviewer(self) -> Reviewer:
        return Reviewer(
            self.catalog, self.blobs, self.recipes, self.outbox, self.reviews, self.detections
        )


def blob_store(url: str, kms_key_id: str | None = None) -> BlobStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileBlobStore(Path(parsed.netloc + parsed.path))
    if parsed.scheme == "s3" and parsed.netloc:
        from darkroom.adapters.aws.s3 import S3BlobStore

        return S3BlobStore(url, kms_key_id=kms_key_id)
    raise SettingsError(
        f"DARKROOM_STORAGE: unsupported storage {url!r} (use file://DIR or s3://BUCKET/PREFIX)"
    )


def queue_for(url: str, db: Database) -> Queue:
    if url in {"local", "database"}:
        return SqlQueue(db)
    name = _after(url, "sqs://")
    if name:
        from darkroom.adapters.aws.sqs import SqsQueue

        return SqsQueue(name)
    raise SettingsError(f"DARKROOM_QUEUE: unsupported queue {url!r} (use local or sqs://NAME)")


def bus_for(url: str, webhooks: Webhooks) -> EventBus:
    if url == "local":
        bus = LocalEventBus()
        bus.subscribe_many(webhooks.fan_out_many)
        return bus
    name = _after(url, "eventbridge://")
    if name:
        from darkroom.adapters.aws.eventbridge import EventBridgeBus

        return EventBridgeBus(name)  # rules on the bus are the subscribers
    raise SettingsError(f"DARKROOM_BUS: unsupported bus {url!r} (use local or eventbridge://NAME)")


def notifier_for(settings: Settings, webhooks: Webhooks) -> Notifier:
    if settings.notifier == "local":
        target = (
            Target(settings.notify_webhook_url, settings.notify_webhook_secret)
            if settings.notify_webhook_url
            else None
        )
        return LocalNotifier(webhooks, target)
    arn = _after(settings.notifier, "sns://")
    if arn.startswith("arn:"):
        from darkroom.adapters.aws.sns import SnsNotifier

        return SnsNotifier(arn)
    raise SettingsError(
        f"DARKROOM_NOTIFIER: unsupported notifier {settings.notifier!r} "
        "(use local or sns://arn:aws:sns:REGION:ACCOUNT:TOPIC)"
    )


def detection_log_for(url: str, catalog: SqlCatalog) -> DetectionLog:
    if url == "database":
        return catalog
    table = _after(url, "dynamodb://")
    if table:
        from darkroom.adapters.aws.dynamodb import DynamoDetectionLog

        return DynamoDetectionLog(table)
    raise SettingsError(
        f"DARKROOM_DETECTION_LOG: unsupported log {url!r} (use database or dynamodb://TABLE)"
    )


def _after(url: str, scheme: str) -> str:
    """What follows the scheme ('' when the URL has another scheme); ARNs keep their colons."""
    return url[len(scheme) :].strip("/") if url.startswith(scheme) else ""


def indexes_for(db: Database, tuning: VectorSearch) -> tuple[VectorIndex, TextIndex]:
    """The search indexes that live beside the catalog: embedded ones on SQLite, pgvector and
    tsvector on PostgreSQL."""
    if db.is_sqlite:
        options = GraphOptions(graph_from=tuning.graph_from, ef_search=tuning.ef_search)
        return EmbeddedVectorIndex(db, options), SqliteTextIndex(db)
    from darkroom.adapters.postgres.fulltext import PostgresTextIndex
    from darkroom.adapters.postgres.vectors import PgVectorIndex

    return PgVectorIndex(db, ef_search=tuning.ef_search), PostgresTextIndex(db)


def build(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    db = Database(settings.database_url)
    catalog = SqlCatalog(db)
    queue = queue_for(settings.queue, db)
    blobs = blob_store(settings.storage_url, settings.s3_kms_key_id)
    webhook = settings.webhook
    egress = EgressPolicy.of(webhook.allow_networks, webhook.allow_http)
    webhooks = Webhooks(db, timeout=webhook.timeout_seconds, egress=egress)
    notifier = notifier_for(settings, webhooks)
    bus = bus_for(settings.bus, webhooks)
    detections = detection_log_for(settings.detection_log, catalog)
    providers = ProviderRegistry(batch_across_threads=settings.worker_threads > 1)
    recipes = RecipeBook(settings.recipes_dir)
    vectors, text = indexes_for(db, settings.vectors)
    facets = SqlFacetIndex(db)
    portraits = SqlPortraitStore(db)
    reviews = SqlReviews(db)
    ports = StepPorts(
        blobs=blobs,
        catalog=catalog,
        notifier=notifier,
        providers=providers,
        vectors=vectors,
        text=text,
        detections=detections,
        facets=facets,
        consents=portraits,
        reviews=reviews,
    )
    outbox = Outbox(catalog, bus)
    engine = Engine(catalog, queue, outbox, ports, recipes, settings.limits)
    claims = SqlClaims(db)
    intake = Intake(
        catalog,
        queue,
        blobs,
        recipes,
        settings.limits,
        outbox,
        claims,
        admissions=[ConsentGate(portraits, providers)],
    )
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
        claims=claims,
        providers=providers,
        vectors=vectors,
        text=text,
        detections=detections,
        recipes=recipes,
        outbox=outbox,
        search=Search(
            vectors,
            text,
            providers,
            settings.limits,
            settings.embedder,
            settings.embedder_options,
            text_embedder=settings.text_embedder,
            facets=facets,
        ),
        engine=engine,
        intake=intake,
        portraits=portraits,
        reviews=reviews,
    )
