"""Everything that differs between stages, in one table, and the deployment's context options."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

STAGE_NAMES = ("dev", "staging", "prod")
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
MODEL_SERVICES = ("OPENAI", "ANTHROPIC", "VOYAGE")  # darkroom.settings.ApiKeys


class ConfigError(ValueError):
    """A context value the app cannot deploy with; the message names it and says what fits."""


@dataclass(frozen=True)
class Stage:
    name: str
    # Data: what survives `cdk destroy`, and how long things are kept.
    retain_data: bool  # bucket, table, database snapshot and logs kept after a destroy
    versioned_bucket: bool
    noncurrent_version_days: int  # old object versions expire (versioned buckets only)
    thumbnail_ia_days: int  # thumbnails move to Standard-IA (>= 30: S3's minimum)
    abort_multipart_days: int
    queue_retention_days: int
    log_retention_days: int
    # Compute.
    api_memory_mb: int
    api_timeout_seconds: int
    worker_memory_mb: int  # processor and step functions: the recipe's steps run there
    worker_timeout_seconds: int
    reserved_concurrency: int | None  # processor and step each; bounds database connections
    processor_batch_size: int
    # Database (Aurora Serverless v2): 0 ACU pauses when idle (PostgreSQL 16.3+).
    db_min_acu: float
    db_max_acu: float
    db_backup_days: int
    endpoint_azs: int  # availability zones that get the VPC interface endpoints
    # Alarms.
    queue_depth_threshold: int
    oldest_message_seconds: int
    function_errors_threshold: int  # errors per 5 minutes, per function
    throttles_threshold: int
    # API Gateway stage defaults (each usage plan throttles its own keys below these).
    api_rate_limit: int
    api_burst_limit: int


STAGES: dict[str, Stage] = {
    "dev": Stage(
        name="dev",
        retain_data=False,
        versioned_bucket=False,
        noncurrent_version_days=7,
        thumbnail_ia_days=30,
        abort_multipart_days=1,
        queue_retention_days=4,
        log_retention_days=7,
        api_memory_mb=1024,
        api_timeout_seconds=29,
        worker_memory_mb=2048,
        worker_timeout_seconds=120,
        reserved_concurrency=None,  # new accounts may have too little concurrency to reserve
        processor_batch_size=5,
        db_min_acu=0,
        db_max_acu=2,
        db_backup_days=1,
        endpoint_azs=1,
        queue_depth_threshold=1000,
        oldest_message_seconds=3600,
        function_errors_threshold=10,
        throttles_threshold=10,
        api_rate_limit=100,
        api_burst_limit=200,
    ),
    "staging": Stage(
        name="staging",
        retain_data=False,
        versioned_bucket=False,
        noncurrent_version_days=7,
        thumbnail_ia_days=30,
        abort_multipart_days=3,
        queue_retention_days=4,
        log_retention_days=30,
        api_memory_mb=1024,
        api_timeout_seconds=29,
        worker_memory_mb=2048,
        worker_timeout_seconds=120,
        reserved_concurrency=10,
        processor_batch_size=10,
        db_min_acu=0.5,
        db_max_acu=8,
        db_backup_days=7,
        endpoint_azs=1,
        queue_depth_threshold=1000,
        oldest_message_seconds=1800,
        function_errors_threshold=5,
        throttles_threshold=5,
        api_rate_limit=500,
        api_burst_limit=1000,
    ),
    "prod": Stage(
        name="prod",
        retain_data=True,
        versioned_bucket=True,
        noncurrent_version_days=30,
        thumbnail_ia_days=30,
        abort_multipart_days=7,
        queue_retention_days=14,
        log_retention_days=90,
        api_memory_mb=2048,
        api_timeout_seconds=29,
        worker_memory_mb=3008,
        worker_timeout_seconds=180,
        reserved_concurrency=50,
        processor_batch_size=10,
        db_min_acu=0.5,
        db_max_acu=16,
        db_backup_days=14,
        endpoint_azs=2,
        queue_depth_threshold=1000,
        oldest_message_seconds=900,
        function_errors_threshold=1,
        throttles_threshold=1,
        api_rate_limit=2000,
        api_burst_limit=5000,
    ),
}


@dataclass(frozen=True)
class Options:
    """The deployment's context (`cdk synth -c key=value`, or cdk.json)."""

    stage: Stage
    prefix: str = "darkroom"  # resource names start with "{prefix}-{stage}"
    owner: str = "darkroom"  # the Owner tag
    project: str = "darkroom"  # the Project tag
    recipe: str = "pets"  # DARKROOM_RECIPE, and the recipe compiled into the state machine
    pipeline: str = "queue"  # queue: S3 -> SQS -> processor; stepfunctions: S3 -> EventBridge
    database: str = "aurora"  # aurora: created here; external: database_secret_arn
    database_secret_arn: str | None = None
    db_public_cidr: str | None = None  # a CIDR that may reach Aurora directly (dev tools)
    notify_email: str | None = None  # subscribed to the uncertain-results topic
    alarm_email: str | None = None  # subscribed to the alarms topic
    cognito: bool = False  # a Cognito user pool authorizer in front of the API
    # Browser origins allowed to call the API and the bucket. Prod defaults to none (same-origin
    # and non-browser clients only) and refuses "*": a keyed API open to every page is a leak.
    cors_origins: tuple[str, ...] = ("*",)
    portrait_endpoint: str | None = None  # the portraits recipe's SageMaker endpoint, by name
    # none: functions in isolated subnets, AWS reached through VPC endpoints only. nat: a NAT
    # gateway per endpoint AZ, for recipes whose steps call model services on the internet.
    egress: str = "none"
    # Model services whose keys the stack keeps in Secrets Manager (DARKROOM_<NAME>_API_KEY).
    model_keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.prefix}-{self.stage.name}"


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off", ""}:
        return False
    raise ConfigError(f"context {key}={value!r}: expected true or false")


def _choice(value: Any, key: str, allowed: tuple[str, ...]) -> str:
    text = str(value)
    if text not in allowed:
        raise ConfigError(f"context {key}={value!r}: expected one of {', '.join(allowed)}")
    return text


def _optional(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def options_from_context(get: Any) -> Options:
    """Options from a context getter (`app.node.try_get_context`), checked with clear errors."""
    stage_name = _choice(get("stage") or "dev", "stage", STAGE_NAMES)
    stage = STAGES[stage_name]
    concurrency = _optional(get("reserved_concurrency"))
    if concurrency is not None:
        stage = replace(
            stage, reserved_concurrency=None if concurrency == "none" else int(concurrency)
        )
    prefix = str(get("prefix") or "darkroom")
    if not PREFIX_PATTERN.match(prefix):
        raise ConfigError(
            f"context prefix={prefix!r}: 2-21 lowercase letters, digits or '-', from a letter"
        )
    database = _choice(get("database") or "aurora", "database", ("aurora", "external"))
    secret_arn = _optional(get("database_secret_arn"))
    if database == "external" and not (secret_arn and secret_arn.startswith("arn:")):
        raise ConfigError(
            "context database=external needs database_secret_arn=arn:aws:secretsmanager:... "
            "(a secret with username, password, host, port and dbname)"
        )
    origins_text = _optional(get("cors_origins"))
    origins = tuple(o.strip() for o in origins_text.split(",") if o.strip()) if origins_text else ()
    if stage.name == "prod" and "*" in origins:
        raise ConfigError(
            "context cors_origins='*' is refused for prod: name the browser origins that may "
            "call the API (cors_origins=https://app.example.com,https://admin.example.com)"
        )
    if not origins and stage.name != "prod":
        origins = ("*",)  # dev and staging: any page, for trying things out
    model_keys = _optional(get("model_keys"))
    keys = (
        tuple(k.strip().upper() for k in model_keys.split(",") if k.strip()) if model_keys else ()
    )
    for key in keys:
        if key not in MODEL_SERVICES:
            raise ConfigError(
                f"context model_keys: {key!r} is not a model service ({', '.join(MODEL_SERVICES)})"
            )
    return Options(
        stage=stage,
        prefix=prefix,
        owner=str(get("owner") or "darkroom"),
        project=str(get("project") or "darkroom"),
        recipe=str(get("recipe") or "pets"),
        pipeline=_choice(get("pipeline") or "queue", "pipeline", ("queue", "stepfunctions")),
        database=database,
        database_secret_arn=secret_arn,
        db_public_cidr=_optional(get("db_public_cidr")),
        notify_email=_optional(get("notify_email")),
        alarm_email=_optional(get("alarm_email")),
        cognito=_flag(get("cognito") or False, "cognito"),
        portrait_endpoint=_optional(get("portrait_endpoint")),
        cors_origins=origins,
        egress=_choice(get("egress") or "none", "egress", ("none", "nat")),
        model_keys=keys,
    )
