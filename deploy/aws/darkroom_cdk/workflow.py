"""Events and orchestration: the EventBridge bus and its example rules, the SNS topics, and the
recipe's Step Functions state machine (compiled by darkroom.engine.asl), deployed only with
pipeline=stepfunctions, where S3's events start it; the queue pipeline has no use for it."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from darkroom.engine.asl import DEAD_LETTER_QUEUE, STEP_FUNCTION, compile_asl, to_json
from darkroom.engine.recipes import CompiledRecipe
from darkroom_cdk.functions import LOG_RETENTION
from darkroom_cdk.stages import Options
from darkroom_cdk.storage import INPUT_PREFIX, Storage

EVENT_SOURCE_PREFIX = "darkroom."  # every darkroom event's source is darkroom.<step>


@dataclass(frozen=True)
class Messaging:
    bus: events.EventBus
    uncertain_topic: sns.Topic
    alarm_topic: sns.Topic
    events_log: logs.LogGroup


def build_messaging(
    scope: Construct, options: Options, announced: tuple[str, ...] = ()
) -> Messaging:
    """`announced`: detail types the recipe announces to systems downstream (the catalog's
    InventoryImageProcessed): each gets a rule of its own for them to add targets to."""
    bus = events.EventBus(scope, "Bus", event_bus_name=options.name)
    uncertain = sns.Topic(
        scope,
        "UncertainTopic",
        topic_name=f"{options.name}-uncertain",
        display_name="darkroom: results that need a person",
        enforce_ssl=True,
    )
    # Alarms have their own topic: operators, not reviewers, read them. Not KMS-encrypted with
    # the AWS managed key, which CloudWatch alarms cannot publish to.
    alarms = sns.Topic(
        scope,
        "AlarmTopic",
        topic_name=f"{options.name}-alarms",
        display_name="darkroom alarms",
        enforce_ssl=True,
    )
    if options.notify_email:
        uncertain.add_subscription(subscriptions.EmailSubscription(options.notify_email))
    if options.alarm_email:
        alarms.add_subscription(subscriptions.EmailSubscription(options.alarm_email))
    events_log = logs.LogGroup(
        scope,
        "EventsLog",
        log_group_name=f"/aws/events/{options.name}",
        retention=LOG_RETENTION[options.stage.log_retention_days],
        removal_policy=RemovalPolicy.RETAIN if options.stage.retain_data else RemovalPolicy.DESTROY,
    )
    for rule_id, detail_type in (
        ("UncertainRule", "ClassificationUncertain"),
        ("FailedRule", "ImageFailed"),
    ):
        events.Rule(
            scope,
            rule_id,
            event_bus=bus,
            description=f"example: every {detail_type} event into {events_log.log_group_name}",
            event_pattern=events.EventPattern(
                source=events.Match.prefix(EVENT_SOURCE_PREFIX), detail_type=[detail_type]
            ),
            targets=[targets.CloudWatchLogGroup(events_log)],
        )
    for detail_type in announced:
        events.Rule(
            scope,
            f"{detail_type}Rule",
            event_bus=bus,
            rule_name=f"{options.name}-{detail_type}",
            description=f"{detail_type} events for downstream systems: add your targets here",
            event_pattern=events.EventPattern(
                source=events.Match.prefix(EVENT_SOURCE_PREFIX), detail_type=[detail_type]
            ),
            targets=[targets.CloudWatchLogGroup(events_log)],
        )
    return Messaging(bus, uncertain, alarms, events_log)


def build_state_machine(
    scope: Construct,
    options: Options,
    recipe: CompiledRecipe,
    step_function: lambda_.IFunction,
    storage: Storage,
) -> sfn.StateMachine:
    log_group = logs.LogGroup(
        scope,
        "StateMachineLogs",
        log_group_name=f"/aws/vendedlogs/states/{options.name}-{recipe.name}",
        retention=LOG_RETENTION[options.stage.log_retention_days],
        removal_policy=RemovalPolicy.RETAIN if options.stage.retain_data else RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=f"{options.name}-{recipe.name}",
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_string(to_json(compile_asl(recipe))),
        definition_substitutions={
            STEP_FUNCTION: step_function.function_arn,
            DEAD_LETTER_QUEUE: storage.dead_letters.queue_url,
        },
        tracing_enabled=True,
        # Every state transition, without the images' data (cdk-nag SF1).
        logs=sfn.LogOptions(
            destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
        ),
    )
    # Exactly what the definition calls: the step function and the DLQ.
    machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"], resources=[step_function.function_arn]
        )
    )
    machine.add_to_role_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[storage.dead_letters.queue_arn])
    )
    if options.pipeline == "stepfunctions":
        # Originals start executions straight from S3's events (the default bus).
        events.Rule(
            scope,
            "OriginalArrivedRule",
            description="S3 Object Created under input/ starts the recipe's state machine",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [storage.bucket.bucket_name]},
                    "object": {"key": events.Match.prefix(INPUT_PREFIX)},
                },
            ),
            targets=[targets.SfnStateMachine(machine)],
        )
    return machine
