"""API keys of a deployed stack, in one command: `darkroom keys create|list|revoke --stack NAME`.

A request needs its key twice: API Gateway checks `x-api-key` against its own keys and usage
plans, then darkroom checks it against its key table (owner, admin). This makes both, from
the stack's outputs and the operator's AWS credentials, with no route to the database: the
table is reached through the stack's keys function (darkroom/lambdas/keys.py), inside the VPC.

Creation is all or nothing: if API Gateway refuses the key or its usage-plan key, the API
Gateway key is deleted and darkroom's key revoked, and the error says what happened.
Revocation deletes the API Gateway key first (the gateway refuses the key at once), then
revokes darkroom's.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from darkroom.adapters.aws.clients import client

KEYS_FUNCTION_OUTPUT = "KeysFunctionName"


class StackKeysError(RuntimeError):
    """The stack, its keys function or API Gateway refused; the message says what to do."""


def usage_plan_output(plan: str) -> str:
    return f"{plan.title()}UsagePlanId"  # as darkroom_cdk.stack names them


@dataclass
class StackKeys:
    stack: str
    _outputs: dict[str, str] | None = None

    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            try:
                answer = client("cloudformation").describe_stacks(StackName=self.stack)
            except Exception as exc:
                raise StackKeysError(f"stack {self.stack!r}: {exc}") from None
            outputs = answer["Stacks"][0].get("Outputs", [])
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in outputs}
            if KEYS_FUNCTION_OUTPUT not in self._outputs:
                raise StackKeysError(
                    f"stack {self.stack!r} has no {KEYS_FUNCTION_OUTPUT} output: deploy this "
                    "version of darkroom's CDK app first"
                )
        return self._outputs

    def gateway_name(self, key_id: str) -> str:
        return f"{self.stack}-{key_id}"

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        function = self.outputs()[KEYS_FUNCTION_OUTPUT]
        try:
            answer = client("lambda").invoke(
                FunctionName=function, Payload=json.dumps(payload).encode()
            )
        except Exception as exc:
            raise StackKeysError(f"the keys function {function}: {exc}") from None
        body = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            message = body.get("errorMessage") if isinstance(body, dict) else body
            raise StackKeysError(f"the keys function {function} failed: {message}")
        if not isinstance(body, dict) or not body.get("ok"):
            error = body.get("error") if isinstance(body, dict) else body
            raise StackKeysError(str(error))
        return body

    def create(self, owner: str, plan: str, admin: bool) -> dict[str, Any]:
        plan_id = self.outputs().get(usage_plan_output(plan))
        if plan_id is None:
            plans = sorted(
                k[: -len("UsagePlanId")].lower()
                for k in self.outputs()
                if k.endswith("UsagePlanId")
            )
            raise StackKeysError(
                f"stack {self.stack!r} has no usage plan {plan!r}; plans: {', '.join(plans)}"
            )
        made = self.invoke({"action": "create", "owner": owner, "plan": plan, "admin": admin})
        gateway = client("apigateway")
        gateway_id: str | None = None
        try:
            gateway_id = gateway.create_api_key(
                name=self.gateway_name(made["id"]),
                description=f"darkroom key {made['id']} of {owner} (plan {plan})",
                enabled=True,
                value=made["secret"],
                tags={"darkroom-key-id": made["id"], "darkroom-owner": owner},
            )["id"]
            gateway.create_usage_plan_key(usagePlanId=plan_id, keyId=gateway_id, keyType="API_KEY")
        except Exception as exc:
            if gateway_id is not None:
                # Best effort: the revoke below stops the key even if this delete fails.
                with contextlib.suppress(Exception):
                    gateway.delete_api_key(apiKey=gateway_id)
            self.invoke({"action": "revoke", "id": made["id"]})
            raise StackKeysError(
                f"API Gateway refused the key ({exc}); darkroom's key {made['id']} was revoked, "
                "so neither exists in use"
            ) from None
        return {**made, "gateway_key_id": gateway_id}

    def gateway_keys(self) -> dict[str, dict[str, Any]]:
        """API Gateway's keys of this stack, by darkroom key id."""
        found: dict[str, dict[str, Any]] = {}
        paginator = client("apigateway").get_paginator("get_api_keys")
        for page in paginator.paginate(nameQuery=f"{self.stack}-", includeValues=False):
            for item in page.get("items", []):
                name = item.get("name", "")
                if name.startswith(f"{self.stack}-"):
                    found[name[len(self.stack) + 1 :]] = item
        return found

    def list(self) -> list[dict[str, Any]]:
        keys = self.invoke({"action": "list"})["keys"]
        gateway = self.gateway_keys()
        return [{**key, "in_gateway": key["id"] in gateway} for key in keys]

    def revoke(self, key_id: str) -> bool:
        gateway_key = self.gateway_keys().get(key_id)
        if gateway_key is not None:
            client("apigateway").delete_api_key(apiKey=gateway_key["id"])
        revoked = bool(self.invoke({"action": "revoke", "id": key_id})["revoked"])
        return revoked or gateway_key is not None
