"""`darkroom keys create|list|revoke --stack NAME` against moto's server: the stack's outputs from
CloudFormation (named as the synthesized template names them), darkroom's key table through the
keys function (Lambda's Invoke API, served over HTTP by this test and run in-process), and the
API Gateway key with its usage-plan key. A keyed call through the API handler works after
`create` and stops after `revoke`; a failure halfway leaves no usable key. Also the first admin
key, made by the keys function as CloudFormation's custom resource."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from typer.testing import CliRunner

from darkroom.cli.main import app as cli
from darkroom.lambdas import api, keys, runtime
from tests import loopback
from tests.lambda_harness import REGION, LambdaContext
from tests.loopback import QuietHandler
from tests.template_stack import TemplateStack

pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (the aws extra)")
from tests.test_deploy import synthesize
from tests.test_lambdas import rest_event

pytestmark = [pytest.mark.usefixtures("aws_credentials"), pytest.mark.slow]


class Invocations(QuietHandler):
    """Lambda's Invoke API (POST /2015-03-31/functions/NAME/invocations) for one function: the
    keys handler, run in this process. A CloudFormation ResponseURL PUT is recorded too."""

    function_name = ""
    responses: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        name = self.path.split("/functions/", 1)[1].split("/", 1)[0]
        if name != self.function_name:
            self.send_json(404, {"Type": "User", "message": f"Function not found: {name}"})
            return
        self.send_json(200, keys.handler(body, LambdaContext()))

    def do_PUT(self) -> None:
        self.responses.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_json(200, {})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize({}, tmp_path_factory.mktemp("keys")).json


@pytest.fixture
def lambda_server() -> Iterator[str]:
    Invocations.responses = []
    server = loopback.serve(Invocations)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    loopback.close(server)


@pytest.fixture
def deployed(
    template: dict[str, Any],
    moto_endpoint: str,
    lambda_server: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TemplateStack]:
    """The stack's resources, its usage plans in API Gateway, and a CloudFormation stack whose
    outputs are the template's output names with the moto values."""
    stack = TemplateStack(moto_endpoint, template)
    gateway = boto3.client("apigateway", endpoint_url=moto_endpoint, region_name=REGION)
    rest_api = gateway.create_rest_api(name=f"darkroom-{stack.suffix}")["id"]
    outputs: dict[str, str] = {}
    for logical_id, plan in stack.of_type("AWS::ApiGateway::UsagePlan").items():
        made = gateway.create_usage_plan(name=plan["Properties"]["UsagePlanName"])
        stack.refs[logical_id] = made["id"]
    for name, output in template["Outputs"].items():
        if name.endswith("UsagePlanId"):
            outputs[name] = stack.render(output["Value"])
    keys_env = stack.environment("keys", str(home))
    function_name = f"darkroom-keys-{stack.suffix}"
    outputs["KeysFunctionName"] = function_name
    outputs["RestApiId"] = rest_api
    assert set(template["Outputs"]) >= set(outputs)  # the names the CLI reads are the template's
    stack_name = f"darkroom-{stack.suffix}"
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGION)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(
            {
                "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {k: {"Value": v} for k, v in outputs.items()},
            }
        ),
    )
    # One process plays the keys function and the API function: the catalog is SQLite in the
    # same home (the template's database secret is PostgreSQL's, tested in test_lambdas_template).
    env = {**stack.environment("api", str(home)), **keys_env}
    env.pop("DARKROOM_DATABASE_SECRET_ARN")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_server)
    Invocations.function_name = function_name
    stack.name = stack_name  # type: ignore[attr-defined]
    stack.gateway = gateway  # type: ignore[attr-defined]
    stack.plan_ids = outputs  # type: ignore[attr-defined]
    runtime.reset()
    keys.reset()
    yield stack
    # runtime first: each puts back the environment it found, and the other order leaves
    # DARKROOM_SECRET_KEY behind
    runtime.reset()
    keys.reset()


def call(secret: str | None, path: str = "/images") -> int:
    headers = {"X-API-Key": secret} if secret else {}
    return int(api.handler(rest_event("GET", path, headers=headers), LambdaContext())["statusCode"])


def gateway_keys(stack: Any) -> dict[str, dict[str, Any]]:
    items = stack.gateway.get_api_keys(includeValues=True)["items"]
    return {item["name"]: item for item in items if item["name"].startswith(stack.name)}


def test_create_makes_both_keys_and_revoke_stops_them(deployed: Any) -> None:
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--owner",
            "alice",
            "--plan",
            "free",
            "--json",
            "--stack",
            deployed.name,
        ],
    )
    assert made.exit_code == 0, made.output
    key = json.loads(made.output)
    # API Gateway: the same value, enabled, on the plan of the same name.
    (gateway_key,) = gateway_keys(deployed).values()
    assert gateway_key["value"] == key["key"] and gateway_key["enabled"] is True
    plan_keys = deployed.gateway.get_usage_plan_keys(
        usagePlanId=deployed.plan_ids["FreeUsagePlanId"]
    )
    assert [k["id"] for k in plan_keys["items"]] == [gateway_key["id"]]
    # darkroom: a keyed call through the API handler works.
    assert call(key["key"]) == 200
    assert call(None) == 401
    listed = runner.invoke(cli, ["keys", "list", "--json", "--stack", deployed.name])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["id"], r["owner"], r["in_gateway"], r["revoked"]) for r in rows] == [
        (key["id"], "alice", True, False)
    ]
    revoked = runner.invoke(cli, ["keys", "revoke", key["id"], "--stack", deployed.name])
    assert revoked.exit_code == 0, revoked.output
    assert gateway_keys(deployed) == {}
    assert call(key["key"]) == 401


def test_a_failure_in_api_gateway_leaves_no_usable_key(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """darkroom's key is made, then API Gateway cannot be reached: the key is revoked."""
    from tests.server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_API_GATEWAY", f"http://127.0.0.1:{free_port()}")
    made = CliRunner().invoke(
        cli,
        [
            "keys",
            "create",
            "--owner",
            "bob",
            "--plan",
            "default",
            "--json",
            "--stack",
            deployed.name,
        ],
    )
    assert made.exit_code == 1, made.output
    assert "API Gateway refused the key" in made.output and "revoked" in made.output
    monkeypatch.delenv("AWS_ENDPOINT_URL_API_GATEWAY")
    assert gateway_keys(deployed) == {}
    (row,) = keys.store().list()
    assert row.owner == "bob" and row.revoked


def test_unknown_stack_and_plan_are_refused_clearly(deployed: Any) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["keys", "list", "--stack", "no-such-stack"])
    assert missing.exit_code == 1 and "no-such-stack" in missing.output
    bad_plan = runner.invoke(
        cli, ["keys", "create", "--owner", "a", "--plan", "gold", "--stack", deployed.name]
    )
    assert bad_plan.exit_code == 1 and "no usage plan 'gold'" in bad_plan.output


def test_the_first_admin_key_is_made_by_the_custom_resource(
    deployed: Any, lambda_server: str
) -> None:
    secret_arn = deployed.secret_arn("AdminKey")
    event = {
        "RequestType": "Create",
        "ResponseURL": f"{lambda_server}/cloudformation-response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/darkroom-dev/x",
        "RequestId": "r-1",
        "LogicalResourceId": "AdminKeyBootstrap",
        "ResourceType": "Custom::DarkroomAdminKey",
        "ResourceProperties": {"SecretArn": secret_arn, "Plan": "unlimited"},
    }
    assert keys.handler(event, LambdaContext()) == {"ok": True}
    (response,) = Invocations.responses
    assert response["Status"] == "SUCCESS" and response["NoEcho"] is True
    admin = response["Data"]["Secret"]
    stored = json.loads(
        deployed.secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    )
    assert stored["key"] == admin and stored["id"] == response["PhysicalResourceId"]
    assert call(admin, "/stats") == 200  # an admin route
    # An update hands back the same key; deleting the stack revokes it.
    update = {**event, "RequestType": "Update", "PhysicalResourceId": stored["id"]}
    keys.handler(update, LambdaContext())
    assert Invocations.responses[-1]["Data"]["Secret"] == admin
    keys.handler({**update, "RequestType": "Delete"}, LambdaContext())
    assert Invocations.responses[-1]["Status"] == "SUCCESS"
    assert call(admin, "/stats") == 401
