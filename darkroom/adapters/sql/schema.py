"""Tables. Times are epoch seconds (float) so SQLite and PostgreSQL compare them alike."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

images = Table(
    "images",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("recipe", String(64), nullable=False),
    Column("filename", Text, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("location", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("idempotency_key", Text),
    Column("job_id", String(32)),
    Column("content_type", String(64)),
    Column("size_bytes", Integer, nullable=False, default=0),
    Column("sha256", String(64)),
    Column("phash", String(16)),
    Column("format", String(8)),
    Column("width", Integer),
    Column("height", Integer),
    Column("class_name", String(64)),
    Column("confidence", Float),
    Column("uncertain", Boolean, nullable=False, default=False),
    Column("labels", JSON, nullable=False, default=list),
    Column("thumbnail", Text),
    Column("duplicate_of", String(32)),
    Column("error", Text),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("owner", "idempotency_key", name="uq_images_idempotency"),
    Index("ix_images_owner_id", "owner", "id"),
    Index("ix_images_owner_status", "owner", "status"),
    # Covers the counts per class and per day the gallery shows on every page.
    Index("ix_images_owner_counts", "owner", "status", "class_name", "uncertain", "created_at"),
)

step_results = Table(
    "step_results",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("image_id", String(32), nullable=False, index=True),
    Column("output", JSON, nullable=False),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("finished_at", Float, nullable=False),
)

step_failures = Table(
    "step_failures",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
)

contents = Table(
    "contents",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("image_id", String(32), nullable=False),
)

detection_logs = Table(
    "detection_logs",
    metadata,
    Column("image_id", String(32), primary_key=True),
    Column("detected_animal", String(64), nullable=False),
    Column("confidence_score", Float, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("s3_location", Text, nullable=False),
    Column("processing_status", String(32), nullable=False),
    Column("file_size", Integer, nullable=False),
    Column("image_format", String(8), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("detail_type", String(64), nullable=False),
    Column("time", Float, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("published", Boolean, nullable=False, default=False),
    Index("ix_events_pending", "published", "time"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("image_id", String(32), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("recipe", String(64), nullable=False),
    Column("state", String(8), nullable=False),  # ready | dead
    Column("visible_at", Float, nullable=False),
    Column("receipt", String(32)),
    Column("claimed_by", String(128)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("enqueued_at", Float, nullable=False),
    Column("last_error", Text),
    Column("traceback", Text),
    Column("failed_at", Float),
    Index("ix_jobs_ready", "state", "visible_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscription_id", String(32)),
    Column("owner", String(128)),
    Column("url", Text, nullable=False),
    Column("secret", Text),
    Column("detail_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(12), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("owner", String(128), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("admin", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

usage = Table(
    "usage",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("period", String(16), primary_key=True),  # e.g. "2026-11-22" or "2026-11"
    Column("requests", Integer, nullable=False),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("detail_types", JSON, nullable=False),  # [] means every type
    Column("created_at", Float, nullable=False),
    Index("ix_subscriptions_owner", "owner"),
)

vectors = Table(
    "vectors",
    metadata,
    Column("image_id", String(32), primary_key=True),
    Column("space", String(128), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
    Column("metadata", JSON, nullable=False),
)

# Every change to `vectors`, in order: search processes catch up from here instead of reloading.
vector_changes = Table(
    "vector_changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(32), nullable=False),
    Column("space", String(128), nullable=False),
    Column("owner", String(128), nullable=False),
    sqlite_autoincrement=True,
)

# Every analysis of an image, each a version kept beside the older ones.
analyses = Table(
    "analyses",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("image_id", String(32), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("job_id", String(32)),
    Column("provider", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("prompt_hash", String(64), nullable=False),
    Column("schema_hash", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("image_id", "version", name="uq_analyses_version"),
)

# Claims taken before bytes are read, so two concurrent requests for one thing never both write:
# a presigned URL (used once, forever until it expires, even after its image is deleted) and an
# Idempotency-Key (held while the first request stores its file).
claims = Table(
    "claims",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("state", String(12), nullable=False),  # receiving | used
    Column("claimed_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_claims_expires", "expires_at"),
)

# What images are found by as facets (colour=red, category=dress, brand=...): one row per value.
facets = Table(
    "facets",
    metadata,
    Column("image_id", String(32), primary_key=True),
    Column("family", String(64), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("owner", String(128), nullable=False),
    Index("ix_facets_owner_family_value", "owner", "family", "value"),
)

# The portraits recipe. A visitor's consent, one row per (owner, visitor): the latest answer, the
# time it was given and the key that recorded it. User ids are opaque text, never split.
consents = Table(
    "consents",
    metadata,
    Column("owner", String(128), primary_key=True),
    Column("user_id", String(1024), primary_key=True),
    Column("name", Text),  # erased with the visitor's pictures when consent is withdrawn
    Column("agreed", Boolean, nullable=False),
    Column("recorded_at", Float, nullable=False),
    Column("recorded_by", String(16), nullable=False),  # the API key's id (or "cli")
    Column("agreed_at", Float),
    Column("withdrawn_at", Float),
)

# Each portrait asked for: the visitor, style and gender of one image (the selfie). Written when
# the kiosk asks for an upload URL, or with the image at intake; what erasure and "the latest
# portrait of a visitor" read.
portrait_requests = Table(
    "portrait_requests",
    metadata,
    Column("image_id", String(32), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("user_id", String(1024), nullable=False),
    Column("style", String(64), nullable=False),
    Column("gender", String(32)),
    Column("created_at", Float, nullable=False),
    Column("selfie_expired_at", Float),  # the selfie and crop removed (retention), result kept
    Index("ix_portrait_requests_visitor", "owner", "user_id", "created_at"),
    Index("ix_portrait_requests_created", "created_at"),
)

# Human review decisions, each with its provenance: who decided, when, and what the model had
# said at the time. An undone decision stays, marked, so the history is never rewritten.
reviews = Table(
    "reviews",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("image_id", String(32), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("recipe", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("class_name", String(64), nullable=False),
    Column("model_class", String(64)),
    Column("model_confidence", Float),
    Column("model_uncertain", Boolean, nullable=False),
    Column("previous_location", Text, nullable=False),
    Column("decided_at", Float, nullable=False),
    Column("undone_at", Float),
    Index("ix_reviews_image", "image_id"),
    Index("ix_reviews_recipe", "owner", "recipe"),
)
