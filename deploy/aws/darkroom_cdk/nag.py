"""cdk-nag's AwsSolutions pack: each finding darkroom accepts, acknowledged where it arises with
its reason. The tests run the pack over every stage and variant and fail on any finding left
(tests/test_deploy_nag.py). Acknowledgments are CDK's own metadata (Validations), so synthesizing
needs no cdk-nag; `-c nag=true` runs the pack in `cdk synth`."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

from darkroom_cdk.stages import Options

PACK = "AwsSolutions"

OBJECT_PREFIXES = (
    "Object ARNs under one of darkroom's key prefixes (input/, clients/, thumbnails/, the "
    "recipe's class folders, health/): a key is {prefix}{owner}/{image id}..., unknown until "
    "the image exists. Each function gets only the prefixes and actions it uses (functions.py)."
)
NO_RESOURCE_LEVEL = (
    "Actions with no resource-level permissions: X-Ray's PutTraceSegments and "
    "PutTelemetryRecords (active tracing); Lambda's own network interfaces in the VPC "
    "(ec2:*NetworkInterface*, created before their ids exist); Rekognition DetectLabels."
)
CDK_HANDLER = (
    "A deploy-time handler the CDK itself provides (bucket notifications; the events log "
    "group's resource policy): it runs only during CloudFormation operations and its role is "
    "not ours to write; darkroom's own functions carry no managed policy."
)


def ack(constructs: Iterable[IConstruct], rule: str, reason: str) -> None:
    for construct in constructs:
        Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}::{rule}", reason=reason))


def find(stack: Stack, *fragments: str) -> list[IConstruct]:
    """Constructs of the stack whose path contains every fragment."""
    return [
        c for c in stack.node.find_all() if all(fragment in c.node.path for fragment in fragments)
    ]


def suppress(stack: Stack, options: Options, prefixes: Iterable[str]) -> None:
    """Acknowledge what darkroom accepts; `prefixes` are the object prefixes its roles are
    scoped to (storage.darkroom_prefixes), each an object-ARN wildcard IAM5 reports."""
    object_prefixes = sorted(set(prefixes))
    api = find(stack, "/Api/Default/")
    ack(
        api,
        "AwsSolutions-APIG4",
        "Keyed methods require an API key (API Gateway) that darkroom checks again for its "
        "owner and admin flag; /health, /docs and /openapi.json serve no data; a presigned "
        "PUT carries its own HMAC-signed grant.",
    )
    ack(
        api,
        "AwsSolutions-COG4",
        "Cognito is optional (-c cognito=true puts it on every keyed method); API keys are "
        "darkroom's identity. Open routes (/health, docs, presigned PUT) take no user.",
    )
    ack(
        find(stack, "/Api/Resource"),
        "AwsSolutions-APIG2",
        "The JSON bodies of POST /upload and /upload/presign are validated by API Gateway "
        "against the app's own schemas; every other route is validated by the app (FastAPI "
        "answers 422 with the reason).",
    )
    ack(
        find(stack, "/Api/DeploymentStage"),
        "AwsSolutions-APIG3",
        "No WAF web ACL by default (from $5/month plus rules): usage plans, stage throttling "
        "and body limits bound abuse; attach a web ACL to the stage where one is required.",
    )
    ack(
        find(stack, "/Vpc/", "Endpoint/SecurityGroup"),
        "AwsSolutions-EC23",
        "Interface endpoint security groups admit HTTPS from the VPC's own CIDR "
        "(Fn::GetAtt Vpc.CidrBlock, which cdk-nag cannot read), not from the internet.",
    )
    ack(
        find(stack, "/StateMachine/Role/DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray tracing (PutTraceSegments, PutTelemetryRecords, GetSampling*) and the log "
        "delivery actions Step Functions needs (logs:*LogDelivery*) have no resource-level "
        "permissions; its calls are the step function and the DLQ only.",
    )
    ack(
        find(stack, "/UserPool/Resource"),
        "AwsSolutions-COG8",
        "The Essentials tier: the Plus tier's threat protection costs per active user; "
        "Cognito is an optional second factor in front of API keys here.",
    )
    for role in ("ApiRole", "ProcessorRole", "StepRole", "KeysRole"):
        policies = find(stack, f"/{role}/DefaultPolicy")
        ack(policies, "AwsSolutions-IAM5[Resource::*]", NO_RESOURCE_LEVEL)
        for prefix in object_prefixes:
            ack(
                policies,
                f"AwsSolutions-IAM5[Resource::<{bucket_id(stack)}.Arn>/{prefix}*]",
                OBJECT_PREFIXES,
            )
    ack(
        find(stack, "/ApiGatewayLogsRole/DefaultPolicy"),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
        ":log-group:*]",
        "API Gateway's logging role is one per account and region, shared by every REST API "
        "there: it must reach their execution log groups (API-Gateway-Execution-Logs_*), "
        "which API Gateway creates itself.",
    )
    handlers = find(stack, "/BucketNotificationsHandler") + find(stack, "/AWS679f53fac002430cb")
    ack(
        handlers,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        CDK_HANDLER,
    )
    ack(handlers, "AwsSolutions-IAM5[Resource::*]", CDK_HANDLER)
    ack(find(stack, "EventsLogGroupPolicy"), "AwsSolutions-IAM5[Resource::*]", CDK_HANDLER)
    ack(
        find(stack, "/PresignKey/"),
        "AwsSolutions-SMG4",
        "Rotating the presign key voids every presigned upload in flight: rotate it by hand "
        "(put-secret-value) when needed; functions pick it up within the secrets cache age.",
    )
    ack(
        find(stack, "/AdminKey/"),
        "AwsSolutions-SMG4",
        "Holds a darkroom API key, not a password Secrets Manager could change: it is "
        "replaced with `darkroom keys create/revoke --stack`.",
    )
    ack(
        find(stack, "ApiKey/"),
        "AwsSolutions-SMG4",
        "A model service's key: issued and rotated at the provider, then put here.",
    )
    database = find(stack, "/Database/Resource")
    ack(
        database,
        "AwsSolutions-RDS6",
        "Password authentication from the rotated secret: IAM tokens last 15 minutes and "
        "darkroom's connection pool does not refresh them yet.",
    )
    if not options.stage.retain_data:
        ack(
            database,
            "AwsSolutions-RDS10",
            "dev and staging databases are disposable; prod has deletion protection on.",
        )
    ack(
        find(stack, "/AccessLogs/Resource"),
        "AwsSolutions-S1",
        "This is the bucket that receives the data bucket's server access logs.",
    )


def bucket_id(stack: Stack) -> str:
    bucket = stack.node.try_find_child("Bucket")
    assert bucket is not None
    return stack.get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]
