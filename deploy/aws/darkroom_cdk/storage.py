"""Where darkroom keeps things on AWS: the bucket, the queue and its DLQ, DetectionLogs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from darkroom.engine.recipes import CompiledRecipe
from darkroom_cdk.stages import Options

INPUT_PREFIX = "input/"  # originals; the only prefix whose objects start a job (the contract)
MEDIA_PREFIX = "clients/"  # the media recipe's clients/{client}/products/{sku}/media/...
THUMBNAILS_PREFIX = "thumbnails/"
HEALTH_PREFIX = "health/"  # /health writes, reads back and deletes a probe object here
DETECTION_LOG_KEY = "ImageID"
DETECTION_LOG_TTL = "ExpiresAt"


# Where the steps that store derivatives of their own write them (engine/lifecycle.py deletes
# the same folders with an image); the media library's derivatives live beside its originals.
STEP_FOLDERS: dict[str, tuple[str, ...]] = {
    "standardise": ("standardised",),
    "face": ("faces",),
    "stylise": ("portraits",),
    "keyframes": ("clients",),
    "place": ("clients",),
}


def darkroom_prefixes(recipe: CompiledRecipe) -> dict[str, tuple[str, ...]]:
    """The key prefixes darkroom writes, by role: originals, derivatives (thumbnails and the
    organize step's class folders), and the health probe. IAM is scoped to these."""
    folders: set[str] = set()
    for step in recipe.steps:
        if step.definition.name == "organize":
            settings = step.settings.model_dump()
            folders.update(settings.get("folders", {}).values())
            folders.add(settings.get("default", "others"))
        folders.update(STEP_FOLDERS.get(step.definition.name, ()))
    return {
        "originals": (INPUT_PREFIX, MEDIA_PREFIX),
        "derivatives": (THUMBNAILS_PREFIX, *(f"{folder}/" for folder in sorted(folders))),
        "health": (HEALTH_PREFIX,),
    }


def removal(options: Options) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if options.stage.retain_data else RemovalPolicy.DESTROY


def arrival_filters(options: Options) -> list[s3.NotificationKeyFilter]:
    """Which new objects notify the queue: every object under input/ (queue pipeline) and under
    clients/. No suffix filter: S3's are case-sensitive (IMG_0001.JPG, .Jpeg) and a list can
    only name formats, so an object outside it (.heic) would sit unseen for ever. The processor
    decides instead, and says why: a picture is recorded, anything else is recorded as
    `rejected` with the reason, and darkroom's own derivatives never live under these prefixes.
    With pipeline=stepfunctions, originals start the state machine through EventBridge."""
    prefixes = [MEDIA_PREFIX]
    if options.pipeline == "queue":
        prefixes.insert(0, INPUT_PREFIX)
    return [s3.NotificationKeyFilter(prefix=prefix) for prefix in prefixes]


@dataclass(frozen=True)
class Storage:
    bucket: s3.Bucket
    queue: sqs.Queue
    dead_letters: sqs.Queue
    detection_log: dynamodb.Table


def build_storage(
    scope: Construct,
    options: Options,
    max_deliveries: int,
    portrait_retention: tuple[int, int] | None = None,
) -> Storage:
    stage = options.stage
    dead_letters = sqs.Queue(
        scope,
        "DeadLetterQueue",
        queue_name=f"{options.name}-dlq",
        retention_period=Duration.days(14),  # SQS's longest: time to look and replay
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
    queue = sqs.Queue(
        scope,
        "Queue",
        queue_name=f"{options.name}-jobs",
        # AWS's advice for a Lambda event source: six times the function's timeout.
        visibility_timeout=Duration.seconds(6 * stage.worker_timeout_seconds),
        receive_message_wait_time=Duration.seconds(20),  # long polling
        retention_period=Duration.days(stage.queue_retention_days),
        encryption=sqs.QueueEncryption.SQS_MANAGED,  # S3 can send to it (no KMS key grant)
        enforce_ssl=True,
        # The recipe's crash budget: a message received this often without finishing is dead.
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=max_deliveries),
    )
    bucket = build_bucket(scope, options, portrait_retention)
    destination = s3n.SqsDestination(queue)
    for key_filter in arrival_filters(options):
        bucket.add_event_notification(s3.EventType.OBJECT_CREATED, destination, key_filter)
    detection_log = dynamodb.Table(
        scope,
        "DetectionLogs",
        table_name=f"{options.name}-DetectionLogs",
        partition_key=dynamodb.Attribute(
            name=DETECTION_LOG_KEY, type=dynamodb.AttributeType.STRING
        ),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=DETECTION_LOG_TTL,
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=stage.retain_data,
        removal_policy=removal(options),
    )
    return Storage(bucket, queue, dead_letters, detection_log)


def portrait_rules(selfie_days: int, result_days: int) -> list[s3.LifecycleRule]:
    """The portraits recipe's retention: selfies (the originals) and face crops, then the
    portraits (the housekeeping sweep's periods, enforced by S3 here)."""
    return [
        s3.LifecycleRule(
            id="expire-selfies", prefix=INPUT_PREFIX, expiration=Duration.days(selfie_days)
        ),
        s3.LifecycleRule(
            id="expire-face-crops", prefix="faces/", expiration=Duration.days(selfie_days)
        ),
        s3.LifecycleRule(
            id="expire-portraits", prefix="portraits/", expiration=Duration.days(result_days)
        ),
    ]


def build_bucket(
    scope: Construct, options: Options, portrait_retention: tuple[int, int] | None = None
) -> s3.Bucket:
    stage = options.stage
    rules = [
        s3.LifecycleRule(
            id="thumbnails-to-infrequent-access",
            prefix=THUMBNAILS_PREFIX,
            transitions=[
                s3.Transition(
                    storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                    transition_after=Duration.days(stage.thumbnail_ia_days),
                )
            ],
        ),
        s3.LifecycleRule(
            id="abort-incomplete-uploads",
            abort_incomplete_multipart_upload_after=Duration.days(stage.abort_multipart_days),
        ),
    ]
    if portrait_retention is not None:
        rules.extend(portrait_rules(*portrait_retention))
    if stage.versioned_bucket:
        rules.append(
            s3.LifecycleRule(
                id="expire-old-versions",
                noncurrent_version_expiration=Duration.days(stage.noncurrent_version_days),
                expired_object_delete_marker=True,
            )
        )
    access_logs = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,  # delivery by bucket policy
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-access-logs", expiration=Duration.days(stage.log_retention_days)
            )
        ],
        removal_policy=removal(options),
    )
    return s3.Bucket(
        scope,
        "Bucket",
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix="bucket/",
        encryption=s3.BucketEncryption.S3_MANAGED,
        versioned=stage.versioned_bucket,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        event_bridge_enabled=options.pipeline == "stepfunctions",
        cors=None
        if not options.cors_origins
        else [
            s3.CorsRule(
                # Presigned uploads and downloads straight from browsers.
                allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.PUT, s3.HttpMethods.POST],
                allowed_origins=list(options.cors_origins),
                allowed_headers=["*"],
                exposed_headers=["ETag"],
                max_age=3000,
            )
        ],
        lifecycle_rules=rules,
        # Not auto_delete_objects: its helper's policy uses wildcard actions. A dev bucket
        # is emptied by hand before `cdk destroy` (docs/deploy-aws.md).
        removal_policy=removal(options),
    )
