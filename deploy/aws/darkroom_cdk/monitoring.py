"""CloudWatch alarms (to the alarms topic) and the dashboard.

The dashboard reads the EMF metrics the Lambda handlers write (namespace `darkroom`, dimension
`service`), by SEARCH where a dimension's values are open-ended (classes, steps).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from darkroom_cdk.functions import Functions
from darkroom_cdk.stages import Options
from darkroom_cdk.storage import Storage

NAMESPACE = "darkroom"
SERVICE = {"service": "darkroom"}
FIVE_MINUTES = Duration.minutes(5)


def darkroom_metric(name: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map=SERVICE,
        statistic="Sum",
        period=FIVE_MINUTES,
        label=label,
    )


def search(dimensions: str, metric: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{NAMESPACE},{dimensions}}} MetricName=\"{metric}\"', "
        f"'{statistic}', 300)",
        label=label,
        period=FIVE_MINUTES,
    )


def build_alarms(
    scope: Construct,
    options: Options,
    storage: Storage,
    functions: Functions,
    machine: sfn.StateMachine | None,
    topic: sns.Topic,
) -> list[cloudwatch.Alarm]:
    stage = options.stage
    above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
    at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
    alarms: list[cloudwatch.Alarm] = []

    def alarm(
        construct_id: str,
        name: str,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        operator: cloudwatch.ComparisonOperator = above,
        periods: int = 1,
    ) -> None:
        made = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name=f"{options.name}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=operator,
            evaluation_periods=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        made.add_alarm_action(actions.SnsAction(topic))
        alarms.append(made)

    queue, dead_letters = storage.queue, storage.dead_letters
    alarm(
        "DeadLettersAlarm",
        "dlq-not-empty",
        "Jobs failed every attempt: see `darkroom dlq list`, then replay.",
        dead_letters.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        ),
        0,
    )
    alarm(
        "QueueDepthAlarm",
        "queue-depth",
        "More work waiting than the workers keep up with.",
        queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        ),
        stage.queue_depth_threshold,
        periods=3,
    )
    alarm(
        "OldestMessageAlarm",
        "oldest-message-age",
        "A job has waited too long: workers stuck, throttled or failing.",
        queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
        stage.oldest_message_seconds,
    )
    if machine is not None:
        alarm(
            "StateMachineFailedAlarm",
            "executions-failed",
            "Images the state machine sent to the dead-letter queue.",
            machine.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
            0,
        )
    for function in functions.all():
        name = function.node.id.removesuffix("Function")
        alarm(
            f"{name}ErrorsAlarm",
            f"{name.lower()}-errors",
            f"The {name.lower()} function is failing.",
            function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            stage.function_errors_threshold,
            at_least,
        )
        alarm(
            f"{name}ThrottlesAlarm",
            f"{name.lower()}-throttles",
            f"The {name.lower()} function is throttled (concurrency).",
            function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            stage.throttles_threshold,
            at_least,
        )
    return alarms


def build_dashboard(
    scope: Construct,
    options: Options,
    storage: Storage,
    functions: Functions,
    machine: sfn.StateMachine | None,
) -> cloudwatch.Dashboard:
    processed = darkroom_metric("ImagesProcessed", "processed")
    uncertain = darkroom_metric("ImagesUncertain", "uncertain")
    dashboard = cloudwatch.Dashboard(scope, "Dashboard", dashboard_name=options.name)
    dashboard.add_widgets(
        cloudwatch.GraphWidget(
            title="Images per class",
            left=[search("class,service", "ImagesClassified", "Sum", "")],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title="Uncertain rate (%)",
            left=[
                cloudwatch.MathExpression(
                    expression="100 * uncertain / processed",
                    using_metrics={"uncertain": uncertain, "processed": processed},
                    label="uncertain %",
                    period=FIVE_MINUTES,
                )
            ],
            width=12,
        ),
    )
    dashboard.add_widgets(
        cloudwatch.GraphWidget(
            title="Outcomes",
            left=[
                processed,
                uncertain,
                darkroom_metric("ImagesRejected", "rejected"),
                darkroom_metric("ImagesDuplicate", "duplicate"),
                darkroom_metric("ImagesFailed", "failed"),
            ],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title="Step latency (seconds)",
            left=[search("recipe,service,step", "StepSeconds", "Average", "")],
            right=[
                functions.processor.metric_duration(statistic="p90", period=FIVE_MINUTES),
                *(
                    [
                        functions.step.metric_duration(statistic="p90", period=FIVE_MINUTES),
                        machine.metric_time(statistic="p90", period=FIVE_MINUTES),
                    ]
                    if functions.step is not None and machine is not None
                    else []
                ),
            ],
            width=12,
        ),
    )
    dashboard.add_widgets(
        cloudwatch.GraphWidget(
            title="Errors",
            left=[search("recipe,service,step", "StepFailed", "Sum", "")],
            right=[
                *(f.metric_errors(period=FIVE_MINUTES, statistic="Sum") for f in functions.all()),
                *(
                    [machine.metric_failed(period=FIVE_MINUTES, statistic="Sum")]
                    if machine is not None
                    else []
                ),
            ],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title="Queue",
            left=[
                storage.queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES),
                storage.dead_letters.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES
                ),
            ],
            right=[storage.queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES)],
            width=12,
        ),
    )
    return dashboard
