"""The three Lambda functions (one container image, three handlers) and what each may do.

Permissions are written out action by action instead of with the constructs' grant methods:
several of those grant wildcard actions (bucket.grant_read gives "s3:GetObject*", "s3:List*"),
and each function should hold only what its code calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from darkroom_cdk.database import Database
from darkroom_cdk.stages import Options
from darkroom_cdk.storage import Storage

API_HANDLER = "darkroom.lambdas.api.handler"
PROCESSOR_HANDLER = "darkroom.lambdas.processor.handler"
STEP_HANDLER = "darkroom.lambdas.step.handler"

S3_OBJECTS_READ_WRITE = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
SQS_QUEUE_LOOKUP = ("sqs:GetQueueUrl", "sqs:GetQueueAttributes")
SQS_DRAIN = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")
DETECTION_LOG_WRITE = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)
DETECTION_LOG_READ = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem")
LOG_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


@dataclass(frozen=True)
class Functions:
    api: lambda_.DockerImageFunction
    processor: lambda_.DockerImageFunction
    step: lambda_.DockerImageFunction

    def all(self) -> tuple[lambda_.DockerImageFunction, ...]:
        return (self.api, self.processor, self.step)


@dataclass(frozen=True)
class Shared:
    """What the functions are wired to (the DARKROOM_* settings of the AWS contract)."""

    storage: Storage
    database: Database
    bus: events.EventBus
    uncertain_topic: sns.Topic
    presign_key: str  # DARKROOM_SECRET_KEY, a dynamic reference to a generated secret
    public_url: str
    uses_rekognition: bool


def video_budget(timeout_seconds: int) -> int:
    """Time a worker function gives one video's keyframes: its timeout less room to record."""
    return max(10, timeout_seconds - 20)


def environment(options: Options, shared: Shared) -> dict[str, str]:
    storage = shared.storage
    return {
        "DARKROOM_STORAGE": f"s3://{storage.bucket.bucket_name}",
        "DARKROOM_DATABASE": shared.database.url,
        "DARKROOM_QUEUE": f"sqs://{storage.queue.queue_name}",
        "DARKROOM_BUS": f"eventbridge://{shared.bus.event_bus_name}",
        "DARKROOM_NOTIFIER": f"sns://{shared.uncertain_topic.topic_arn}",
        "DARKROOM_DETECTION_LOG": f"dynamodb://{storage.detection_log.table_name}",
        "DARKROOM_RECIPE": options.recipe,
        "DARKROOM_HOME": "/tmp/darkroom",  # the only writable place in a Lambda
        "POWERTOOLS_SERVICE_NAME": "darkroom",
        "POWERTOOLS_METRICS_NAMESPACE": "darkroom",
    }


def allow(function: lambda_.IFunction, actions: Sequence[str], resources: Sequence[str]) -> None:
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(actions), resources=list(resources))
    )


def build_functions(
    scope: Construct, options: Options, shared: Shared, image_context: Path
) -> Functions:
    stage = options.stage
    base = environment(options, shared)
    vpc = shared.database.vpc
    subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED) if vpc else None

    def function(
        name: str,
        handler: str,
        memory: int,
        timeout: int,
        extra_env: dict[str, str],
        reserved: int | None,
    ) -> lambda_.DockerImageFunction:
        log_group = logs.LogGroup(
            scope,
            f"{name.title()}Logs",
            log_group_name=f"/aws/lambda/{options.name}-{name}",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY,
        )
        made = lambda_.DockerImageFunction(
            scope,
            f"{name.title()}Function",
            function_name=f"{options.name}-{name}",
            description=f"darkroom {name} ({handler})",
            code=lambda_.DockerImageCode.from_image_asset(
                str(image_context),
                cmd=[handler],
                platform=ecr_assets.Platform.LINUX_AMD64,
            ),
            architecture=lambda_.Architecture.X86_64,
            memory_size=memory,
            timeout=Duration.seconds(timeout),
            environment={**base, **extra_env},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            reserved_concurrent_executions=reserved,
            vpc=vpc,
            vpc_subnets=subnets,
        )
        shared.database.allow_from(made)
        return made

    api = function(
        "api",
        API_HANDLER,
        stage.api_memory_mb,
        stage.api_timeout_seconds,
        {
            "DARKROOM_SECRET_KEY": shared.presign_key,
            "DARKROOM_PUBLIC_URL": shared.public_url,
            "DARKROOM_CORS_ORIGINS": json.dumps(list(options.cors_origins)),
        },
        None,  # the API scales with requests; usage plans and stage throttling bound it
    )
    # A video's keyframe pass stops (failing with the reason) before Lambda would kill it.
    worker_env = {"DARKROOM_VIDEO_BUDGET_SECONDS": str(video_budget(stage.worker_timeout_seconds))}
    processor = function(
        "processor",
        PROCESSOR_HANDLER,
        stage.worker_memory_mb,
        stage.worker_timeout_seconds,
        worker_env,
        stage.reserved_concurrency,
    )
    step = function(
        "step",
        STEP_HANDLER,
        stage.worker_memory_mb,
        stage.worker_timeout_seconds,
        worker_env,
        stage.reserved_concurrency,
    )
    processor.add_event_source(
        sources.SqsEventSource(
            shared.storage.queue,
            batch_size=stage.processor_batch_size,
            max_batching_window=Duration.seconds(1),
            report_batch_item_failures=True,  # one bad image never re-runs its batch
        )
    )
    made = Functions(api, processor, step)
    grant_permissions(made, shared)
    return made


def grant_permissions(functions: Functions, shared: Shared) -> None:
    storage = shared.storage
    bucket = storage.bucket
    objects = bucket.arn_for_objects("*")
    queue, dlq, table = storage.queue, storage.dead_letters, storage.detection_log
    for function in functions.all():
        allow(function, S3_OBJECTS_READ_WRITE, [objects])  # organize copies, then deletes
        allow(function, ["s3:ListBucket"], [bucket.bucket_arn])  # 404, not 403, for a miss
        allow(function, SQS_QUEUE_LOOKUP, [queue.queue_arn, dlq.queue_arn])
        allow(function, ["events:PutEvents"], [shared.bus.event_bus_arn])
    # api: intake enqueues; the admin routes list and replay dead letters.
    allow(functions.api, ["sqs:SendMessage"], [queue.queue_arn])
    allow(functions.api, SQS_DRAIN, [dlq.queue_arn])
    allow(functions.api, DETECTION_LOG_READ, [table.table_arn])
    # processor: the event source mapping adds receive/delete on the queue; the engine
    # re-enqueues with a delay and dead-letters after the last attempt.
    allow(
        functions.processor, ["sqs:SendMessage", "sqs:ChangeMessageVisibility"], [queue.queue_arn]
    )
    allow(functions.processor, ["sqs:SendMessage"], [dlq.queue_arn])
    for worker in (functions.processor, functions.step):
        allow(worker, DETECTION_LOG_WRITE, [table.table_arn])
        allow(worker, ["sns:Publish"], [shared.uncertain_topic.topic_arn])
        if shared.uses_rekognition:
            # DetectLabels has no resource-level permissions: "*" is the only resource.
            allow(worker, ["rekognition:DetectLabels"], ["*"])
