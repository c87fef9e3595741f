"""The Lambda functions (one container image, one handler each) and what each may do.

Each function has its own role with inline statements only (no AWS managed policy), written
action by action and scoped to the resources and key prefixes its code touches: several CDK
grant methods grant wildcard actions (bucket.grant_read gives "s3:GetObject*", "s3:List*").
Secrets reach the functions as ARNs; their values are read at run time
(darkroom/adapters/aws/secrets.py), never put in a function's configuration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from darkroom.adapters.aws.secrets import (
    DATABASE_NAME_VARIABLE,
    DATABASE_SECRET_VARIABLE,
    SECRETS_VARIABLE,
)
from darkroom_cdk.database import Database, function_subnets
from darkroom_cdk.recipe_needs import RecipeNeeds
from darkroom_cdk.stages import Options
from darkroom_cdk.storage import Storage

API_HANDLER = "darkroom.lambdas.api.handler"
PROCESSOR_HANDLER = "darkroom.lambdas.processor.handler"
STEP_HANDLER = "darkroom.lambdas.step.handler"
KEYS_HANDLER = "darkroom.lambdas.keys.handler"

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
LOGS_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")
# What Lambda itself does with a VPC function's role: its network interfaces. EC2 grants
# Describe* on "*" only, and Lambda creates the interfaces before their ids exist.
VPC_NETWORK_INTERFACES = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
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
    keys: lambda_.DockerImageFunction  # API keys in darkroom's table, from inside the VPC
    step: lambda_.DockerImageFunction | None  # pipeline=stepfunctions only

    def all(self) -> tuple[lambda_.DockerImageFunction, ...]:
        made = (self.api, self.processor, self.step, self.keys)
        return tuple(f for f in made if f is not None)


@dataclass(frozen=True)
class Shared:
    """What the functions are wired to (the DARKROOM_* settings of the AWS contract)."""

    storage: Storage
    database: Database
    bus: events.EventBus
    uncertain_topic: sns.Topic
    presign_key: secretsmanager.ISecret  # DARKROOM_SECRET_KEY, read at run time
    model_keys: dict[str, secretsmanager.ISecret]  # DARKROOM_<SERVICE>_API_KEY -> its secret
    admin_key: secretsmanager.ISecret  # the first admin key, written by the keys function
    public_url: str
    needs: RecipeNeeds
    prefixes: dict[str, tuple[str, ...]]  # darkroom's key prefixes by role (storage.py)
    detects_faces: bool = False  # rekognition-faces: DetectFaces
    portrait_endpoint: str | None = None  # the SageMaker endpoint the portraits recipe calls


def database_environment(shared: Shared) -> dict[str, str]:
    return {
        DATABASE_SECRET_VARIABLE: shared.database.secret.secret_arn,
        DATABASE_NAME_VARIABLE: shared.database.name,
    }


def video_budget(timeout_seconds: int) -> int:
    """Time a worker function gives one video's keyframes: its timeout less room to record."""
    return max(10, timeout_seconds - 20)


def environment(options: Options, shared: Shared) -> dict[str, str]:
    storage = shared.storage
    return {
        "DARKROOM_STORAGE": f"s3://{storage.bucket.bucket_name}",
        **database_environment(shared),
        "DARKROOM_QUEUE": f"sqs://{storage.queue.queue_name}",
        "DARKROOM_BUS": f"eventbridge://{shared.bus.event_bus_name}",
        "DARKROOM_NOTIFIER": f"sns://{shared.uncertain_topic.topic_arn}",
        "DARKROOM_DETECTION_LOG": f"dynamodb://{storage.detection_log.table_name}",
        "DARKROOM_RECIPE": options.recipe,
        "DARKROOM_HOME": "/tmp/darkroom",  # the only writable place in a Lambda
        "POWERTOOLS_SERVICE_NAME": "darkroom",
        "POWERTOOLS_METRICS_NAMESPACE": "darkroom",
    } | (
        {"DARKROOM_PORTRAITS_ENDPOINT_NAME": shared.portrait_endpoint}
        if shared.portrait_endpoint
        else {}
    )


def secret_arns(secrets: dict[str, secretsmanager.ISecret]) -> str:
    """DARKROOM_SECRET_ARNS: which variable each secret's value becomes at run time."""
    return json.dumps({name: secret.secret_arn for name, secret in sorted(secrets.items())})


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
    subnets = ec2.SubnetSelection(subnet_type=function_subnets(options)) if vpc else None

    def function(
        name: str,
        handler: str,
        memory: int,
        timeout: int,
        env: dict[str, str],
        reserved: int | None,
    ) -> lambda_.DockerImageFunction:
        log_group = logs.LogGroup(
            scope,
            f"{name.title()}Logs",
            log_group_name=f"/aws/lambda/{options.name}-{name}",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY,
        )
        # Our own role: CDK's default one carries the managed AWSLambdaBasicExecutionRole
        # (and AWSLambdaVPCAccessExecutionRole), which allow every log group of the account.
        role = iam.Role(
            scope,
            f"{name.title()}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"darkroom {name} function ({options.name})",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=list(LOGS_WRITE), resources=[log_group.log_group_arn])
        )
        if vpc is not None:
            role.add_to_policy(
                iam.PolicyStatement(actions=list(VPC_NETWORK_INTERFACES), resources=["*"])
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
            environment=env,
            role=role,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            reserved_concurrent_executions=reserved,
            vpc=vpc,
            vpc_subnets=subnets,
        )
        shared.database.allow_from(made)
        return made

    model_keys = secret_arns(shared.model_keys)
    api = function(
        "api",
        API_HANDLER,
        stage.api_memory_mb,
        stage.api_timeout_seconds,
        {
            **base,
            SECRETS_VARIABLE: secret_arns(
                {**shared.model_keys, "DARKROOM_SECRET_KEY": shared.presign_key}
            ),
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
        {**base, SECRETS_VARIABLE: model_keys, **worker_env},
        stage.reserved_concurrency,
    )
    step = None
    if options.pipeline == "stepfunctions":
        step = function(
            "step",
            STEP_HANDLER,
            stage.worker_memory_mb,
            stage.worker_timeout_seconds,
            {**base, SECRETS_VARIABLE: model_keys, **worker_env},
            stage.reserved_concurrency,
        )
    keys = function(
        "keys",
        KEYS_HANDLER,
        512,
        60,
        {
            **database_environment(shared),
            "DARKROOM_HOME": "/tmp/darkroom",
            "POWERTOOLS_SERVICE_NAME": "darkroom",
        },
        None,
    )
    processor.add_event_source(
        sources.SqsEventSource(
            shared.storage.queue,
            batch_size=stage.processor_batch_size,
            max_batching_window=Duration.seconds(1),
            report_batch_item_failures=True,  # one bad image never re-runs its batch
        )
    )
    made = Functions(api, processor, keys, step)
    grant_permissions(made, shared)
    return made


def objects(shared: Shared, *roles: str) -> list[str]:
    bucket = shared.storage.bucket
    return [
        bucket.arn_for_objects(f"{prefix}*") for role in roles for prefix in shared.prefixes[role]
    ]


def grant_permissions(functions: Functions, shared: Shared) -> None:
    storage = shared.storage
    bucket = storage.bucket
    queue, dlq, table = storage.queue, storage.dead_letters, storage.detection_log
    workers = [f for f in (functions.processor, functions.step) if f is not None]
    database_secret = shared.database.secret.secret_arn
    for function in (functions.api, *workers):
        # 404, not 403, for a missing key; lists a derivatives folder when an image is deleted.
        allow(function, ["s3:ListBucket"], [bucket.bucket_arn])
        allow(function, SQS_QUEUE_LOOKUP, [queue.queue_arn, dlq.queue_arn])
        allow(function, ["events:PutEvents"], [shared.bus.event_bus_arn])
        allow(function, ["secretsmanager:GetSecretValue"], [database_secret])
        if shared.model_keys:
            allow(
                function,
                ["secretsmanager:GetSecretValue"],
                [s.secret_arn for s in shared.model_keys.values()],
            )
    # api: intake stores originals; reads any of darkroom's objects to serve them; deleting
    # an image deletes its original and derivatives; /health puts, reads and deletes a probe.
    api = functions.api
    allow(api, ["s3:PutObject"], objects(shared, "originals", "health"))
    allow(api, ["s3:GetObject"], objects(shared, "originals", "derivatives", "health"))
    allow(api, ["s3:DeleteObject"], objects(shared, "originals", "derivatives", "health"))
    allow(api, ["sqs:SendMessage"], [queue.queue_arn])
    allow(api, SQS_DRAIN, [dlq.queue_arn])
    allow(api, DETECTION_LOG_READ, [table.table_arn])
    allow(api, ["secretsmanager:GetSecretValue"], [shared.presign_key.secret_arn])
    # processor and step: read originals, write derivatives, move originals out of input/
    # (organize: copy, then delete), delete a duplicate's copy; remove what a run made when its
    # image was deleted meanwhile.
    for worker in workers:
        allow(worker, ["s3:GetObject"], objects(shared, "originals", "derivatives"))
        allow(worker, ["s3:PutObject"], objects(shared, "derivatives"))
        allow(worker, ["s3:DeleteObject"], objects(shared, "originals", "derivatives"))
        allow(worker, DETECTION_LOG_WRITE, [table.table_arn])
        allow(worker, ["sns:Publish"], [shared.uncertain_topic.topic_arn])
        if shared.needs.rekognition:
            # DetectLabels has no resource-level permissions: "*" is the only resource.
            allow(worker, ["rekognition:DetectLabels"], ["*"])
    # processor: the event source mapping adds receive/delete on the queue; the engine
    # re-enqueues with a delay and dead-letters after the last attempt.
    allow(
        functions.processor, ["sqs:SendMessage", "sqs:ChangeMessageVisibility"], [queue.queue_arn]
    )
    allow(functions.processor, ["sqs:SendMessage"], [dlq.queue_arn])
    for worker in workers:
        if shared.detects_faces:
            allow(worker, ["rekognition:DetectFaces"], ["*"])  # no resource-level permissions
        if shared.portrait_endpoint:
            endpoint = Stack.of(worker).format_arn(
                service="sagemaker",
                resource="endpoint",
                resource_name=shared.portrait_endpoint.lower(),  # SageMaker's ARNs are lower case
            )
            allow(worker, ["sagemaker:InvokeEndpoint"], [endpoint])
    # keys: darkroom's key table, and the first admin key kept in its secret.
    allow(functions.keys, ["secretsmanager:GetSecretValue"], [database_secret])
    allow(
        functions.keys,
        ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
        [shared.admin_key.secret_arn],
    )
