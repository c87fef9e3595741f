"""A darkroom stack on moto's server built from the synthesized CloudFormation template itself:
the bucket's notification configuration, the queue's and DLQ's attributes (visibility,
retention, redrive and its maxReceiveCount), the DetectionLogs key and TTL, the secrets, and
each function's environment with every reference resolved to the moto resource made for it.
A change to the template (a filter, a receive count, a new variable) changes what these tests
run against; a variable the tests do not know how to resolve fails them."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from typing import Any

import boto3

from tests.lambda_harness import REGION, read_back_events

PSEUDO = {"AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws"}


class TemplateStack:
    """Resources of one template, named uniquely (moto's server is shared by the run)."""

    def __init__(self, endpoint: str, template: dict[str, Any]) -> None:
        self.template = template
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.suffix = uuid.uuid4().hex[:8]
        kwargs: dict[str, Any] = {"endpoint_url": endpoint, "region_name": REGION}
        self.s3 = boto3.client("s3", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.dynamodb = boto3.client("dynamodb", **kwargs)
        self.events = boto3.client("events", **kwargs)
        self.sns = boto3.client("sns", **kwargs)
        self.secretsmanager = boto3.client("secretsmanager", **kwargs)
        self.refs: dict[str, str] = {}  # logical id (or "id.Attribute") -> the moto value
        self._make_queues()
        self._make_bucket()
        self._make_table()
        self._make_messaging()
        self._make_secrets()
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::ApiGateway::RestApi":
                self.refs[logical_id] = "testapi"

    # building

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def _name(self, name: str) -> str:
        return f"{name}-{self.suffix}"

    def _make_queues(self) -> None:
        queues = self.of_type("AWS::SQS::Queue")
        # Dead-letter queues first: the others' redrive policies name them.
        ordered = sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1]["Properties"])
        for logical_id, resource in ordered:
            props = resource["Properties"]
            attributes = {
                key: str(props[key])
                for key in (
                    "VisibilityTimeout",
                    "MessageRetentionPeriod",
                    "ReceiveMessageWaitTimeSeconds",
                )
                if key in props
            }
            if "RedrivePolicy" in props:
                policy = props["RedrivePolicy"]
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": self.render(policy["deadLetterTargetArn"]),
                        "maxReceiveCount": policy["maxReceiveCount"],
                    }
                )
            name = self._name(props["QueueName"])
            url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            self.refs[logical_id] = url
            self.refs[f"{logical_id}.QueueName"] = name
            self.refs[f"{logical_id}.Arn"] = arn["Attributes"]["QueueArn"]
            if logical_id.startswith("DeadLetterQueue"):
                self.dlq_url = url
            else:
                self.queue_url, self.queue_name = url, name
                self.queue_arn = self.refs[f"{logical_id}.Arn"]

    def _make_bucket(self) -> None:
        buckets = [k for k in self.of_type("AWS::S3::Bucket") if k.startswith("Bucket")]
        (logical_id,) = buckets
        self.bucket = f"darkroom-{self.suffix}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.refs[logical_id] = self.bucket
        (notifications,) = self.of_type("Custom::S3BucketNotifications").values()
        configuration = notifications["Properties"]["NotificationConfiguration"]
        rendered = {
            "QueueConfigurations": [
                {**config, "QueueArn": self.render(config["QueueArn"])}
                for config in configuration.get("QueueConfigurations", [])
            ]
        }
        if "EventBridgeConfiguration" in configuration:
            rendered["EventBridgeConfiguration"] = configuration["EventBridgeConfiguration"]
        self.notification_configuration = rendered
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration=rendered
        )

    def _make_table(self) -> None:
        (logical_id, resource), *_ = self.of_type("AWS::DynamoDB::Table").items()
        props = resource["Properties"]
        self.table = self._name(props["TableName"])
        self.dynamodb.create_table(
            TableName=self.table,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props["BillingMode"],
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            self.dynamodb.update_time_to_live(
                TableName=self.table,
                TimeToLiveSpecification={
                    "Enabled": ttl["Enabled"],
                    "AttributeName": ttl["AttributeName"],
                },
            )
        self.refs[logical_id] = self.table

    def _make_messaging(self) -> None:
        (bus_id, bus), *_ = self.of_type("AWS::Events::EventBus").items()
        self.bus = self._name(bus["Properties"]["Name"])
        self.events.create_event_bus(Name=self.bus)
        self.refs[bus_id] = self.bus
        self.events_url = read_back_events(self.events, self.sqs, self.bus, self._name("events"))
        for logical_id, topic in self.of_type("AWS::SNS::Topic").items():
            arn = self.sns.create_topic(Name=self._name(topic["Properties"]["TopicName"]))[
                "TopicArn"
            ]
            self.refs[logical_id] = arn
            if logical_id.startswith("UncertainTopic"):
                self.topic_arn = arn

    def _make_secrets(self) -> None:
        """Each secret of the template, with a value as its generator would make one."""
        self.secret_values: dict[str, str] = {}
        for logical_id, resource in self.of_type("AWS::SecretsManager::Secret").items():
            props = resource["Properties"]
            value = props.get("SecretString") or secrets.token_urlsafe(32)
            arn = self.secretsmanager.create_secret(
                Name=self._name(props["Name"]), SecretString=value
            )["ARN"]
            self.refs[logical_id] = arn
            self.secret_values[logical_id] = value
        for logical_id, resource in self.of_type(
            "AWS::SecretsManager::SecretTargetAttachment"
        ).items():
            self.refs[logical_id] = self.render(resource["Properties"]["SecretId"])

    # reading the template

    def render(self, value: Any) -> str:
        """A template value with its Ref, Fn::GetAtt and Fn::Join resolved to moto's."""
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        if "Ref" in value:
            ref = value["Ref"]
            if ref in PSEUDO:
                return PSEUDO[ref]
            if ref not in self.refs:
                raise KeyError(f"the template refers to {ref!r}, which these tests do not make")
            return self.refs[ref]
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.refs[f"{logical_id}.{attribute}"]
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(self.render(part) for part in parts)
        raise ValueError(f"cannot render {value!r}")

    def function(self, short_name: str) -> dict[str, Any]:
        for resource in self.of_type("AWS::Lambda::Function").values():
            props = resource["Properties"]
            if props.get("PackageType") == "Image" and props["FunctionName"].endswith(
                f"-{short_name}"
            ):
                return props
        raise KeyError(short_name)

    def environment(self, short_name: str, home: str) -> dict[str, str]:
        """The function's environment from the template, every reference made concrete."""
        variables = self.function(short_name)["Environment"]["Variables"]
        env = {name: self.render(value) for name, value in variables.items()}
        env["DARKROOM_HOME"] = home  # /tmp/darkroom in a Lambda
        return env

    def secret_arn(self, logical_prefix: str) -> str:
        (found,) = [v for k, v in self.refs.items() if re.match(logical_prefix, k) and "." not in k]
        return found

    def allowed_prefixes(self, short_name: str, action: str) -> list[str]:
        """Key prefixes the function's role allows `action` on (from its inline statements)."""
        role = self.function(short_name)["Role"]["Fn::GetAtt"][0]
        prefixes = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role} not in policy["Properties"]["Roles"]:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                if action not in actions:
                    continue
                resources = statement["Resource"]
                for resource in resources if isinstance(resources, list) else [resources]:
                    text = json.dumps(resource)
                    match = re.search(r'"/([^"]*)\*"', text)
                    if match:
                        prefixes.append(match.group(1))
        return prefixes

    # reading back

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))
