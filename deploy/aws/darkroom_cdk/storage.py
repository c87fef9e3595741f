"""Where darkroom keeps things on AWS: the bucket, the queue and its DLQ, DetectionLogs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from darkroom_cdk.stages import Options

INPUT_PREFIX = "input/"  # originals; the only prefix whose objects start a job (the contract)
MEDIA_PREFIX = "clients/"  # the media recipe's clients/{client}/products/{sku}/media/...
THUMBNAILS_PREFIX = "thumbnails/"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
DETECTION_LOG_KEY = "ImageID"
DETECTION_LOG_TTL = "ExpiresAt"


def removal(options: Options) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if options.stage.retain_data else RemovalPolicy.DESTROY


def both_cases(suffixes: tuple[str, ...]) -> list[str]:
    """S3 suffix filters are case-sensitive, and cameras write IMG_0001.JPG."""
    return [variant for suffix in suffixes for variant in (suffix, suffix.upper())]


@dataclass(frozen=True)
class Storage:
    bucket: s3.Bucket
    queue: sqs.Queue
    dead_letters: sqs.Queue
    detection_log: dynamodb.Table


def build_storage(scope: Construct, options: Options, max_deliveries: int) -> Storage:
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
    bucket = build_bucket(scope, options)
    destination = s3n.SqsDestination(queue)
    # With pipeline=stepfunctions, originals start the state machine through EventBridge.
    image_suffixes = both_cases(IMAGE_SUFFIXES) if options.pipeline == "queue" else []
    for suffix in image_suffixes:
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            destination,
            s3.NotificationKeyFilter(prefix=INPUT_PREFIX, suffix=suffix),
        )
    # A media library's clients put images and videos straight under clients/; the processor
    # filters again (other spellings, darkroom's own keyframes there).
    for suffix in both_cases(IMAGE_SUFFIXES + VIDEO_SUFFIXES):
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            destination,
            s3.NotificationKeyFilter(prefix=MEDIA_PREFIX, suffix=suffix),
        )
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


def build_bucket(scope: Construct, options: Options) -> s3.Bucket:
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
    if stage.versioned_bucket:
        rules.append(
            s3.LifecycleRule(
                id="expire-old-versions",
                noncurrent_version_expiration=Duration.days(stage.noncurrent_version_days),
                expired_object_delete_marker=True,
            )
        )
    return s3.Bucket(
        scope,
        "Bucket",
        encryption=s3.BucketEncryption.S3_MANAGED,
        versioned=stage.versioned_bucket,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        event_bridge_enabled=options.pipeline == "stepfunctions",
        cors=[
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
