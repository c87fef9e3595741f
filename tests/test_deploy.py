"""The CDK app (deploy/aws): every stage synthesized once per session, checked with
aws_cdk.assertions and linted with cfn-lint; least-privilege IAM; the `deploy synth` command."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from darkroom.cli import deploy as deploy_cli
from darkroom.cli.main import app as cli
from darkroom.engine.asl import PLACEHOLDERS, compile_asl
from darkroom.engine.recipes import RecipeBook
from darkroom.settings import DEFAULT_PLANS

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
cdk = pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (the aws extra)")
assertions = pytest.importorskip("aws_cdk.assertions")
Match, Template = assertions.Match, assertions.Template

DEPLOY_DIR = deploy_cli.DEPLOY_DIR
sys.path.insert(0, str(DEPLOY_DIR))
from darkroom_cdk import STAGES, build_app  # noqa: E402
from darkroom_cdk.image import runtime_requirements, stage_build_context  # noqa: E402
from darkroom_cdk.schemas import request_models  # noqa: E402

STAGE_NAMES = list(STAGES)
# The variant: every optional part switched on, on the dev stage.
VARIANT = {
    "stage": "dev",
    "prefix": "dr-test",
    "pipeline": "stepfunctions",
    "cognito": "true",
    "database": "external",
    "database_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pg-AbCdEf",
    "notify_email": "reviewer@example.com",
    "alarm_email": "ops@example.com",
    "cors_origins": "https://app.example.com",
    "owner": "team-imaging",
}
# CDK's own bucket-notification resource repeats a dependency that a GetAtt already implies.
CFN_LINT_IGNORED = ["W3005"]

pytestmark = pytest.mark.slow  # the CDK synthesizes through Node.js; cfn-lint


class Synthesized:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.json: dict[str, Any] = json.loads(path.read_text())
        self.template = Template.from_json(self.json)

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == kind}

    def one(self, kind: str) -> dict[str, Any]:
        found = list(self.resources(kind).values())
        assert len(found) == 1, f"{len(found)} {kind}"
        return found[0]["Properties"]  # type: ignore[no-any-return]

    def bucket(self) -> dict[str, Any]:
        """The data bucket (beside it: the bucket of its access logs)."""
        (found,) = [
            r for k, r in self.resources("AWS::S3::Bucket").items() if k.startswith("Bucket")
        ]
        return found["Properties"]  # type: ignore[no-any-return]

    def functions(self) -> dict[str, dict[str, Any]]:
        """darkroom's functions (container images) by their short name."""
        return {
            r["Properties"]["FunctionName"].rsplit("-", 1)[1]: r["Properties"]
            for r in self.resources("AWS::Lambda::Function").values()
            if r["Properties"].get("PackageType") == "Image"
        }


def synthesize(context: dict[str, str], root: Path) -> Synthesized:
    # The context `cdk synth` and `darkroom deploy synth` start from (cdk.json), then ours.
    context = {**deploy_cli.cdk_json_context(DEPLOY_DIR), **context}
    app = cdk.App(outdir=str(root / "cdk.out"), context=context)
    build_app(app, image_context=stage_build_context(root / "image"))
    assembly = app.synth()
    (stack,) = assembly.stacks
    return Synthesized(root / "cdk.out" / stack.template_file)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synthesized]]:
    made = {}
    for stage in STAGE_NAMES:
        made[stage] = synthesize({"stage": stage}, tmp_path_factory.mktemp(stage))
    made["variant"] = synthesize(VARIANT, tmp_path_factory.mktemp("variant"))
    yield made


@pytest.fixture(params=STAGE_NAMES)
def stage(request: pytest.FixtureRequest, synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized[request.param]


@pytest.fixture(params=[*STAGE_NAMES, "variant"])
def any_template(
    request: pytest.FixtureRequest, synthesized: dict[str, Synthesized]
) -> Synthesized:
    return synthesized[request.param]


def stage_of(synth: Synthesized) -> str:
    return synth.one("AWS::ApiGateway::Stage")["StageName"]  # type: ignore[no-any-return]


# Bucket, queue, table.


def test_bucket_is_private_encrypted_ssl_only_with_cors_and_lifecycle(stage: Synthesized) -> None:
    name = stage_of(stage)
    prod = STAGES[name].versioned_bucket
    bucket = stage.bucket()
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert ("VersioningConfiguration" in bucket) is prod
    if prod:
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    if name == "prod":  # no browser origin unless named (-c cors_origins=...)
        assert "CorsConfiguration" not in bucket
    else:
        cors = bucket["CorsConfiguration"]["CorsRules"][0]
        assert set(cors["AllowedMethods"]) == {"GET", "PUT", "POST"}
        assert cors["AllowedOrigins"] == ["*"]
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "bucket/"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["thumbnails-to-infrequent-access"]["Prefix"] == "thumbnails/"
    assert rules["thumbnails-to-infrequent-access"]["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30}
    ]
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": STAGES[name].abort_multipart_days
    }
    assert ("expire-old-versions" in rules) is prod
    stage.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    policy = "Retain" if STAGES[name].retain_data else "Delete"
    stage.template.has_resource("AWS::S3::Bucket", {"DeletionPolicy": policy})
    stage.template.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": policy})


def test_every_object_under_input_and_clients_notifies_the_queue(stage: Synthesized) -> None:
    """No suffix filter: S3's are case-sensitive (.JPG) and a list misses formats (.heic); the
    processor records or rejects each object with the reason (tests/test_lambdas_template.py)."""
    notifications = stage.one("Custom::S3BucketNotifications")["NotificationConfiguration"]
    filters = []
    queue_id = next(iter(k for k in stage.resources("AWS::SQS::Queue") if k.startswith("Queue")))
    for config in notifications["QueueConfigurations"]:
        assert config["Events"] == ["s3:ObjectCreated:*"]
        assert config["QueueArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        filters.append({r["Name"]: r["Value"] for r in config["Filter"]["Key"]["FilterRules"]})
    assert sorted(f["prefix"] for f in filters) == ["clients/", "input/"]
    assert not [f for f in filters if "suffix" in f]


def test_queue_redrives_to_the_dlq_after_the_recipes_deliveries(stage: Synthesized) -> None:
    name = stage_of(stage)
    queues = stage.resources("AWS::SQS::Queue")
    (dlq_id,) = [k for k in queues if k.startswith("DeadLetterQueue")]
    (queue_id,) = [k for k in queues if k.startswith("Queue")]
    queue = queues[queue_id]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": RecipeBook().get("pets").recipe.max_deliveries,
    }
    assert queue["VisibilityTimeout"] == 6 * STAGES[name].worker_timeout_seconds
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert queue["SqsManagedSseEnabled"] is True
    assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_detection_logs_table(stage: Synthesized) -> None:
    stage.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "ImageID", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "TimeToLiveSpecification": {"AttributeName": "ExpiresAt", "Enabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


# Compute.


def test_functions_run_the_contracts_handlers_with_its_settings(stage: Synthesized) -> None:
    settings = STAGES[stage_of(stage)]
    functions = stage.functions()
    assert {n: f["ImageConfig"]["Command"] for n, f in functions.items()} == {
        "api": ["darkroom.lambdas.api.handler"],
        "processor": ["darkroom.lambdas.processor.handler"],
        "keys": ["darkroom.lambdas.keys.handler"],
    }
    assert functions["api"]["MemorySize"] == settings.api_memory_mb
    assert functions["api"]["Timeout"] == settings.api_timeout_seconds
    for worker in ("processor",):
        assert functions[worker]["MemorySize"] == settings.worker_memory_mb
        assert functions[worker]["Timeout"] == settings.worker_timeout_seconds
        assert functions[worker].get("ReservedConcurrentExecutions") == (
            settings.reserved_concurrency
        )
    for name, function in functions.items():
        env = function["Environment"]["Variables"]
        # No secret value is resolved into a function's configuration: ARNs only.
        assert "{{resolve:" not in json.dumps(env), name
        assert "DARKROOM_DATABASE" not in env and "DARKROOM_SECRET_KEY" not in env
        assert {"DARKROOM_DATABASE_SECRET_ARN", "DARKROOM_DATABASE_NAME"} <= set(env)
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert "VpcConfig" in function  # Aurora is in the VPC
        if name == "keys":
            continue  # the key table only
        assert {
            "DARKROOM_STORAGE",
            "DARKROOM_QUEUE",
            "DARKROOM_BUS",
            "DARKROOM_NOTIFIER",
            "DARKROOM_DETECTION_LOG",
        } <= set(env)
        assert env["DARKROOM_RECIPE"] == "pets"
        assert env["POWERTOOLS_SERVICE_NAME"] == "darkroom"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "darkroom"
    # {"DARKROOM_SECRET_KEY": "<the presign key's ARN>"}, joined by CloudFormation.
    named = json.dumps(functions["api"]["Environment"]["Variables"]["DARKROOM_SECRET_ARNS"])
    presign_key = next(k for k in stage.resources("AWS::SecretsManager::Secret") if "Presign" in k)
    assert "DARKROOM_SECRET_KEY" in named and json.dumps({"Ref": presign_key}) in named
    stage.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": settings.processor_batch_size,
        },
    )


def test_the_image_context_holds_the_package_and_runtime_requirements_only(
    tmp_path: Path,
) -> None:
    context = stage_build_context(tmp_path / "image")
    copied = {p.relative_to(context).as_posix() for p in context.rglob("*.py")}
    package = {
        p.relative_to(deploy_cli.DEPLOY_DIR.parents[1]).as_posix()
        for p in (deploy_cli.DEPLOY_DIR.parents[1] / "darkroom").rglob("*.py")
    }
    assert copied == package  # the whole package, nothing else
    assert (context / "darkroom" / "recipes" / "pets.yaml").exists()
    assert not list(context.rglob("__pycache__"))
    requirements = (context / "requirements.txt").read_text().split()
    assert requirements == runtime_requirements()
    names = {r.split(">")[0].split("[")[0].split("<")[0].split("=")[0] for r in requirements}
    assert {"pillow", "boto3", "psycopg", "fastapi"} <= names
    assert not names & {"aws-cdk-lib", "constructs", "cfn-lint"}
    assert "FROM public.ecr.aws/lambda/python" in (context / "Dockerfile").read_text()


def test_vpc_has_no_nat_and_reaches_services_through_endpoints(stage: Synthesized) -> None:
    stage.template.resource_count_is("AWS::EC2::NatGateway", 0)
    endpoints = [r["Properties"] for r in stage.resources("AWS::EC2::VPCEndpoint").values()]
    names = sorted(json.dumps(e["ServiceName"]) for e in endpoints)
    for service in ("s3", "dynamodb", "sqs", "events", "sns", "secretsmanager"):
        assert any(f".{service}" in name for name in names), (service, names)
    interface = [e for e in endpoints if e.get("VpcEndpointType") == "Interface"]
    azs = STAGES[stage_of(stage)].endpoint_azs
    assert all(len(e["SubnetIds"]) == azs for e in interface)


def test_aurora_serverless_v2_per_stage(stage: Synthesized) -> None:
    settings = STAGES[stage_of(stage)]
    cluster = stage.one("AWS::RDS::DBCluster")
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["EngineVersion"].startswith("16.")
    assert cluster["ServerlessV2ScalingConfiguration"] == {
        "MinCapacity": settings.db_min_acu,
        "MaxCapacity": settings.db_max_acu,
    }
    assert cluster["StorageEncrypted"] is True
    assert cluster["DeletionProtection"] is settings.retain_data
    stage.template.has_resource_properties(
        "AWS::RDS::DBInstance", {"DBInstanceClass": "db.serverless"}
    )
    stage.template.has_resource(
        "AWS::RDS::DBCluster", {"DeletionPolicy": "Snapshot" if settings.retain_data else "Delete"}
    )
    stage.template.resource_count_is("AWS::SecretsManager::SecretTargetAttachment", 1)
    # Rotated by Secrets Manager's hosted single-user rotation; functions re-read it.
    stage.template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {"RotationRules": {"ScheduleExpression": "rate(30 days)"}},
    )


def test_external_database_needs_no_vpc(synthesized: dict[str, Synthesized]) -> None:
    variant = synthesized["variant"]
    variant.template.resource_count_is("AWS::RDS::DBCluster", 0)
    variant.template.resource_count_is("AWS::EC2::VPC", 0)
    for function in variant.functions().values():
        assert "VpcConfig" not in function
        env = function["Environment"]["Variables"]
        assert env["DARKROOM_DATABASE_SECRET_ARN"] == VARIANT["database_secret_arn"]


# Orchestration and events.


def test_state_machine_only_with_pipeline_stepfunctions(stage: Synthesized) -> None:
    stage.template.resource_count_is("AWS::StepFunctions::StateMachine", 0)
    assert "step" not in stage.functions()
    assert "StateMachineArn" not in stage.json["Outputs"]


def test_state_machine_is_the_compiled_recipe(synthesized: dict[str, Synthesized]) -> None:
    any_template = synthesized["variant"]
    machine = any_template.one("AWS::StepFunctions::StateMachine")
    assert json.loads(machine["DefinitionString"]) == compile_asl(RecipeBook().get("pets"))
    assert set(machine["DefinitionSubstitutions"]) == set(PLACEHOLDERS)
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_pipeline_stepfunctions_starts_executions_from_s3_events(
    synthesized: dict[str, Synthesized],
) -> None:
    variant = synthesized["variant"]
    variant.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"object": {"key": [{"prefix": "input/"}]}},
            },
            "Targets": [Match.object_like({"Arn": {"Ref": Match.any_value()}})],
        },
    )
    notifications = variant.one("Custom::S3BucketNotifications")["NotificationConfiguration"]
    assert notifications["EventBridgeConfiguration"] == {}  # on: S3 sends events to EventBridge
    prefixes = {
        rule["Value"]
        for config in notifications["QueueConfigurations"]
        for rule in config["Filter"]["Key"]["FilterRules"]
        if rule["Name"] == "prefix"
    }
    assert prefixes == {"clients/"}  # originals go to the state machine, not also the queue


def test_bus_rules_and_topics(any_template: Synthesized) -> None:
    any_template.template.resource_count_is("AWS::Events::EventBus", 1)
    for detail_type in ("ClassificationUncertain", "ImageFailed"):
        any_template.template.has_resource_properties(
            "AWS::Events::Rule",
            {
                "EventPattern": {
                    "source": [{"prefix": "darkroom."}],
                    "detail-type": [detail_type],
                },
                "EventBusName": Match.any_value(),
            },
        )
    any_template.template.resource_count_is("AWS::SNS::Topic", 2)


def test_email_subscriptions_only_when_asked(synthesized: dict[str, Synthesized]) -> None:
    synthesized["dev"].template.resource_count_is("AWS::SNS::Subscription", 0)
    variant = synthesized["variant"].template
    for email in (VARIANT["notify_email"], VARIANT["alarm_email"]):
        variant.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": email}
        )


# API Gateway.


def test_usage_plans_match_darkrooms_plans(any_template: Synthesized) -> None:
    plans = {
        p["Properties"]["UsagePlanName"].rsplit("-", 1)[1]: p["Properties"]
        for p in any_template.resources("AWS::ApiGateway::UsagePlan").values()
    }
    assert set(plans) == set(DEFAULT_PLANS)
    for name, plan in DEFAULT_PLANS.items():
        made = plans[name]
        if plan.rate < 10_000:
            assert made["Throttle"] == {"RateLimit": plan.rate, "BurstLimit": plan.burst}
        else:
            assert "Throttle" not in made  # above the account's limit: that limit applies
        if plan.quota is None:
            assert "Quota" not in made
        else:
            assert made["Quota"] == {"Limit": plan.quota, "Period": plan.period.upper()}


def test_methods_need_keys_except_the_open_routes(any_template: Synthesized) -> None:
    resources = {
        key: r["Properties"]["PathPart"]
        for key, r in any_template.resources("AWS::ApiGateway::Resource").items()
    }
    open_paths = {"{token}", "health", "docs", "redoc", "{name}", "openapi.json"}
    methods = any_template.resources("AWS::ApiGateway::Method").values()
    checked = 0
    for method in methods:
        props = method["Properties"]
        if props["HttpMethod"] == "OPTIONS":
            assert props.get("ApiKeyRequired") in (None, False)  # CORS preflight
            continue
        parent = props["ResourceId"].get("Ref")
        path = resources.get(parent, "/")
        assert props.get("ApiKeyRequired", False) is (path not in open_paths), path
        assert props["Integration"]["Type"] == "AWS_PROXY"
        checked += 1
    assert checked >= 8


def test_upload_bodies_are_validated_against_the_apps_schemas(any_template: Synthesized) -> None:
    models = {
        m["Properties"]["Name"]: m["Properties"]
        for m in any_template.resources("AWS::ApiGateway::Model").values()
    }
    schemas = request_models()
    assert models["UploadJson"]["Schema"] == schemas["/upload"]
    assert models["PresignRequest"]["Schema"] == schemas["/upload/presign"]
    assert schemas["/upload"]["required"] == ["filename", "content_type", "data"]
    assert schemas["/upload"]["additionalProperties"] is False
    assert "$ref" not in json.dumps(schemas) and "examples" not in json.dumps(schemas)
    any_template.template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True}
    )
    validated = [
        m["Properties"]
        for m in any_template.resources("AWS::ApiGateway::Method").values()
        if "RequestModels" in m["Properties"]
    ]
    assert len(validated) == 2
    assert all(set(m["RequestModels"]) == {"application/json"} for m in validated)


def test_stage_has_access_logs_and_cognito_is_optional(
    synthesized: dict[str, Synthesized],
) -> None:
    for synth in synthesized.values():
        stage = synth.one("AWS::ApiGateway::Stage")
        assert "DestinationArn" in stage["AccessLogSetting"]
        assert '"status":"$context.status"' in stage["AccessLogSetting"]["Format"]
    synthesized["dev"].template.resource_count_is("AWS::Cognito::UserPool", 0)
    variant = synthesized["variant"]
    variant.template.resource_count_is("AWS::Cognito::UserPool", 1)
    variant.template.has_resource_properties(
        "AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS"}
    )
    keyed = [
        m["Properties"]
        for m in variant.resources("AWS::ApiGateway::Method").values()
        if m["Properties"].get("ApiKeyRequired")
    ]
    assert keyed and all(m["AuthorizationType"] == "COGNITO_USER_POOLS" for m in keyed)
    cors = variant.bucket()["CorsConfiguration"]["CorsRules"][0]
    assert cors["AllowedOrigins"] == ["https://app.example.com"]


# Monitoring.


def test_alarms_go_to_the_alarm_topic(stage: Synthesized) -> None:
    settings = STAGES[stage_of(stage)]
    alarms = {
        a["Properties"]["AlarmName"].split("-", 2)[2]: a["Properties"]
        for a in stage.resources("AWS::CloudWatch::Alarm").values()
    }
    expected = {"dlq-not-empty", "queue-depth", "oldest-message-age"}
    expected |= {
        f"{f}-{kind}" for f in ("api", "processor", "keys") for kind in ("errors", "throttles")
    }
    assert set(alarms) == expected
    (topic_id,) = [k for k in stage.resources("AWS::SNS::Topic") if k.startswith("AlarmTopic")]
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarms["queue-depth"]["Threshold"] == 1000
    assert alarms["queue-depth"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarms["dlq-not-empty"]["Threshold"] == 0
    assert alarms["oldest-message-age"]["Threshold"] == settings.oldest_message_seconds
    assert alarms["processor-errors"]["Threshold"] == settings.function_errors_threshold
    assert alarms["keys-throttles"]["MetricName"] == "Throttles"


def test_dashboard_shows_classes_uncertain_rate_latency_and_errors(stage: Synthesized) -> None:
    body = json.dumps(stage.one("AWS::CloudWatch::Dashboard")["DashboardBody"])
    for needle in (
        "Images per class",
        "ImagesClassified",
        "Uncertain rate",
        "100 * uncertain / processed",
        "StepSeconds",
        "StepFailed",
        "darkroom",
    ):
        assert needle in body, needle


# Tags and least privilege.


def test_every_taggable_resource_carries_the_three_tags(any_template: Synthesized) -> None:
    expected_env = stage_of(any_template)
    tagged = 0
    for key, resource in any_template.json["Resources"].items():
        tags = resource.get("Properties", {}).get("Tags")
        if tags is None:
            continue
        found = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else dict(tags)
        assert found.get("Environment") == expected_env, key
        assert found.get("Owner") and found.get("Project"), key
        tagged += 1
    assert tagged > 30


def statements(synth: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, resource in synth.json["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Policy":
            documents.append(props["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        elif "PolicyDocument" in props:  # bucket, queue and topic policies
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield key, statement


def test_no_allow_statement_has_a_wildcard_action(any_template: Synthesized) -> None:
    count = 0
    for key, statement in statements(any_template):
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if statement["Effect"] == "Deny":
            continue  # "deny s3:* without TLS" is meant to cover everything
        count += 1
        assert not [a for a in actions if "*" in a], (key, actions)
        assert "NotAction" not in statement, key
    assert count > 20


def function_actions(synth: Synthesized, name: str) -> set[str]:
    functions = {
        k: r for k, r in synth.resources("AWS::Lambda::Function").items() if k.startswith(name)
    }
    (function,) = functions.values()
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    actions: set[str] = set()
    for resource in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in resource["Properties"]["Roles"]:
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                found = statement["Action"]
                actions.update(found if isinstance(found, list) else [found])
    return actions


def test_each_function_holds_only_what_it_uses(synthesized: dict[str, Synthesized]) -> None:
    stage = synthesized["variant"]  # the one with every function
    api = function_actions(stage, "ApiFunction")
    processor = function_actions(stage, "ProcessorFunction")
    step = function_actions(stage, "StepFunction")
    assert "sns:Publish" not in api and "dynamodb:PutItem" not in api
    assert {"sqs:SendMessage", "sqs:ReceiveMessage", "dynamodb:Query"} <= api
    assert {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sns:Publish",
        "dynamodb:PutItem",
    } <= processor
    assert not {"sqs:ReceiveMessage", "sqs:SendMessage", "sqs:DeleteMessage"} & step
    assert {"s3:GetObject", "s3:PutObject", "events:PutEvents", "sns:Publish"} <= step
    assert not [a for a in api | processor | step if a.startswith("rekognition:")]
    machine_actions = {
        a
        for key, statement in statements(stage)
        if key.startswith("StateMachineRole")
        for a in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if not a.startswith(("logs:", "xray:"))
    }
    assert machine_actions == {"lambda:InvokeFunction", "sqs:SendMessage"}


# cfn-lint on every synthesized template.


def test_cfn_lint_passes(any_template: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(
        any_template.path,
        config=ManualArgs(regions=["us-east-1"], ignore_checks=CFN_LINT_IGNORED),
    )
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []


# The command.


def test_deploy_synth_refuses_bad_input_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_stage = runner.invoke(cli, ["deploy", "synth", "--stage", "qa", "--out", str(tmp_path)])
    assert bad_stage.exit_code == 2 and "expected one of dev, staging, prod" in bad_stage.output
    external = runner.invoke(
        cli, ["deploy", "synth", "--out", str(tmp_path), "-c", "database=external"]
    )
    assert external.exit_code == 2 and "database_secret_arn" in external.output
    malformed = runner.invoke(cli, ["deploy", "synth", "--out", str(tmp_path), "-c", "oops"])
    assert malformed.exit_code == 2 and "expected KEY=VALUE" in malformed.output
    with pytest.raises(deploy_cli.DeployError, match="no CDK app here"):
        deploy_cli.synth("dev", tmp_path, [], deploy_dir=tmp_path)


def test_deploy_synth_without_the_cdk_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aws_cdk", None)  # what an install without the extra sees
    result = CliRunner().invoke(cli, ["deploy", "synth", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'darkroom[aws]'" in result.output


def test_deploy_synth_writes_the_template(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["deploy", "synth", "--stage", "staging", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    template = json.loads((tmp_path / "out" / "darkroom-staging.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGateway::RestApi"} <= kinds


def test_gateway_responses_carry_cors_headers(synthesized: dict[str, Synthesized]) -> None:
    """API Gateway's own 401/403/429/5xx answers: a browser sees the status, not a CORS error."""
    expected = {"dev": "'*'", "variant": "'https://app.example.com'"}
    for name, origin in expected.items():
        responses = {
            r["Properties"]["ResponseType"]: r["Properties"]["ResponseParameters"]
            for r in synthesized[name].resources("AWS::ApiGateway::GatewayResponse").values()
        }
        assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
        for parameters in responses.values():
            assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == origin
            assert "X-API-Key" in parameters["gatewayresponse.header.Access-Control-Allow-Headers"]
    # prod names no origin by default: no CORS anywhere, and never "*".
    prod = synthesized["prod"]
    assert "'*'" not in json.dumps(prod.resources("AWS::ApiGateway::GatewayResponse"))
    assert prod.one("AWS::ApiGateway::Stage")["MethodSettings"][0]["LoggingLevel"] == "ERROR"


def test_first_admin_key_is_made_at_deploy(stage: Synthesized) -> None:
    (bootstrap,) = stage.resources("Custom::DarkroomAdminKey").values()
    keys_function = next(
        k for k, r in stage.resources("AWS::Lambda::Function").items() if k.startswith("Keys")
    )
    assert bootstrap["Properties"]["ServiceToken"] == {"Fn::GetAtt": [keys_function, "Arn"]}
    (gateway_key,) = stage.resources("AWS::ApiGateway::ApiKey").values()
    (custom_id,) = stage.resources("Custom::DarkroomAdminKey")
    assert gateway_key["Properties"]["Value"] == {"Fn::GetAtt": [custom_id, "Secret"]}
    stage.template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    assert {"AdminKeySecretArn", "KeysFunctionName", "RestApiId"} <= set(stage.json["Outputs"])


def test_no_managed_policy_on_darkrooms_roles(any_template: Synthesized) -> None:
    for key, role in any_template.resources("AWS::IAM::Role").items():
        if key.startswith(("BucketNotificationsHandler", "AWS679f53fac")):
            continue  # the CDK's own deploy-time handlers (nag.py says why)
        assert "ManagedPolicyArns" not in role["Properties"], key


def test_a_media_library_stage_redrives_after_3_and_gives_videos_a_budget_inside_the_timeout(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    media = synthesize({"stage": "dev", "recipe": "media"}, tmp_path_factory.mktemp("media"))
    queues = media.resources("AWS::SQS::Queue")
    (queue_id,) = [k for k in queues if k.startswith("Queue")]
    queue = queues[queue_id]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["VisibilityTimeout"] >= 300  # longer than any video's budget
    functions = media.functions()
    assert "processor" in functions  # (the step function is deployed with pipeline=stepfunctions)
    for name in [name for name in ("processor", "step") if name in functions]:
        function = functions[name]
        env = function["Environment"]["Variables"]
        assert env["DARKROOM_RECIPE"] == "media"
        assert 0 < int(env["DARKROOM_VIDEO_BUDGET_SECONDS"]) < function["Timeout"]
    names = {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in media.resources("AWS::CloudWatch::Alarm").values()
    }
    depth = next(a for n, a in names.items() if n.endswith("queue-depth"))
    dead = next(a for n, a in names.items() if n.endswith("dlq-not-empty"))
    assert depth["Threshold"] == 1000 and dead["Threshold"] == 0
