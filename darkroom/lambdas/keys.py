"""The keys Lambda: darkroom's API keys table, reached from inside the VPC, so no operator needs
a route to the database.

Two callers:
- `darkroom keys create|list|revoke --stack NAME` invokes it ({"action": ...}) and makes the
  matching API Gateway key itself (darkroom/adapters/aws/stack_keys.py);
- CloudFormation, as a custom resource at deploy time: the first admin key, created once, its
  secret written to the stack's admin-key secret and handed back (NoEcho) for the API Gateway
  key of the same value. Deleting the stack revokes it.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from darkroom.adapters.aws.clients import client
from darkroom.adapters.aws.secrets import SecretValues
from darkroom.adapters.sql.database import Database
from darkroom.adapters.sql.keys import SqlKeyStore
from darkroom.lambdas.runtime import logger
from darkroom.settings import Settings

OWNER = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # as `darkroom keys create` allows
BOOTSTRAP_OWNER = "admin"
BOOTSTRAP_PLAN = "unlimited"

_secrets = SecretValues()
_stores: list[SqlKeyStore] = []


class KeysError(ValueError):
    """A request the keys function refuses; the message says why."""


def store() -> SqlKeyStore:
    """The key table over the database named by the secret, rebuilt after a rotation."""
    changed = _secrets.refresh()
    if _stores and not changed:
        return _stores[0]
    if _stores:
        _stores.pop().db.engine.dispose()
    made = SqlKeyStore(Database(Settings().database_url))
    _stores.append(made)
    return made


def reset() -> None:
    if _stores:
        _stores.pop().db.engine.dispose()
    _secrets.clear()


def create(owner: str, plan: str, admin: bool) -> dict[str, Any]:
    settings = Settings()
    if plan not in settings.plans:
        raise KeysError(f"unknown plan {plan!r}; plans: {', '.join(sorted(settings.plans))}")
    if not OWNER.match(owner):
        raise KeysError("owner: letters, digits, '-', '_' and '.', at most 128")
    key, secret = store().create(owner, plan, admin)
    logger.info("key created", extra={"key_id": key.id, "owner": owner, "plan": plan})
    return {**asdict(key), "secret": secret}


def act(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action == "create":
        return create(
            str(event.get("owner", "")), str(event.get("plan", "")), bool(event.get("admin"))
        )
    if action == "list":
        return {"keys": [asdict(key) for key in store().list()]}
    if action == "revoke":
        key_id = str(event.get("id", ""))
        revoked = store().revoke(key_id)
        logger.info("key revoked", extra={"key_id": key_id, "revoked": revoked})
        return {"id": key_id, "revoked": revoked}
    raise KeysError(f"unknown action {action!r}: create, list or revoke")


def bootstrap(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The custom resource: (physical id, data). Create makes the admin key once; Update hands
    back the same key from its secret; Delete revokes it."""
    properties = event.get("ResourceProperties", {})
    secret_arn = properties["SecretArn"]
    secrets = client("secretsmanager")
    kind = event["RequestType"]
    if kind == "Create":
        made = create(BOOTSTRAP_OWNER, properties.get("Plan", BOOTSTRAP_PLAN), True)
        value = json.dumps({"id": made["id"], "key": made["secret"], "owner": made["owner"]})
        secrets.put_secret_value(SecretId=secret_arn, SecretString=value)
        return made["id"], {"KeyId": made["id"], "Secret": made["secret"]}
    physical = str(event.get("PhysicalResourceId", ""))
    if kind == "Delete":
        store().revoke(physical)
        return physical, {}
    kept = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    return physical, {"KeyId": kept["id"], "Secret": kept["key"]}


def respond(
    event: dict[str, Any], status: str, physical: str, data: dict[str, str], reason: str
) -> None:
    """CloudFormation's custom resource answer: a PUT to the pre-signed ResponseURL (S3, reached
    through the VPC's gateway endpoint). NoEcho keeps the key out of describe calls."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": physical or "darkroom-admin-key",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": True,
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "RequestType" in event:  # CloudFormation
        try:
            physical, data = bootstrap(event)
        except Exception as exc:
            logger.exception("admin key custom resource failed")
            respond(event, "FAILED", str(event.get("PhysicalResourceId", "")), {}, str(exc))
            return {"ok": False}
        respond(event, "SUCCESS", physical, data, "")
        return {"ok": True}
    try:
        return {"ok": True, **act(event)}
    except KeysError as exc:
        return {"ok": False, "error": str(exc)}
