"""A recipe compiled to Amazon States Language: the same pipeline as a Step Functions machine.

The machine holds the order of the steps, their retries and the catch; each Task calls the step
Lambda (darkroom.lambdas.step.handler) with one action of the AWS contract:

    Accept -> (skipped? another recipe?) -> step 1 -> ... -> step n -> Processed
    any step fails every retry -> RecordFailure -> SendToDeadLetterQueue -> Failed

A notify step runs only for uncertain images: a Choice on the classify step's `uncertain`
sits in front of it. Task results go through a ResultSelector into one small slot, so the
execution's state stays a few hundred bytes, far below the 256 KB limit, however many steps run.

The step Lambda's ARN and the dead-letter queue's URL are `${...}` placeholders, filled by the
CDK app's DefinitionSubstitutions (see deploy/aws).
"""

from __future__ import annotations

import json
import math
from typing import Any

from darkroom.domain.errors import RecipeError
from darkroom.domain.recipe import RetryPolicy
from darkroom.engine.recipes import CompiledRecipe, CompiledStep

STEP_FUNCTION = "StepFunctionArn"  # DefinitionSubstitutions key: the step Lambda's ARN
DEAD_LETTER_QUEUE = "DeadLetterQueueUrl"  # DefinitionSubstitutions key: the DLQ's URL
PLACEHOLDERS = (STEP_FUNCTION, DEAD_LETTER_QUEUE)

ACCEPT = "Accept"
ROUTE = "Accepted?"
SKIPPED = "Skipped"
OTHER_RECIPE = "OtherRecipe"
PROCESSED = "Processed"
RECORD_FAILURE = "RecordFailure"
SEND_TO_DLQ = "SendToDeadLetterQueue"
FAILED = "Failed"
FIXED_STATES = (
    ACCEPT,
    ROUTE,
    SKIPPED,
    OTHER_RECIPE,
    PROCESSED,
    RECORD_FAILURE,
    SEND_TO_DLQ,
    FAILED,
)
MAX_STATE_NAME = 80  # Step Functions' limit on a state's name

# Errors the step Lambda raises for input that will never succeed (its exception class names):
# retrying them only delays the dead letter.
PERMANENT_ERRORS = ("BadTask", "RecipeError", "NotFound")
TASK_ERRORS = ("States.TaskFailed",)  # any task error but States.Timeout
RECORD_FAILURE_RETRY: dict[str, Any] = {
    "ErrorEquals": ["States.TaskFailed"],
    "IntervalSeconds": 2,
    "BackoffRate": 2,
    "MaxAttempts": 3,
    "JitterStrategy": "FULL",
}
# Step results kept in the state: enough to route, never a step's whole output.
STEP_RESULT = {"status.$": "$.status", "uncertain.$": "$.uncertain", "class.$": "$.class"}
LAST_RESULT = "$.last"
CLASSIFICATION = "$.classification"


def placeholder(name: str) -> str:
    return "${" + name + "}"


def retrier(policy: RetryPolicy) -> dict[str, Any]:
    """The recipe's retry policy as a Step Functions retrier. The recipe counts attempts, Step
    Functions counts retries, hence max_attempts - 1. Seconds are whole in ASL (at least 1)."""
    rule: dict[str, Any] = {
        "ErrorEquals": list(TASK_ERRORS),
        "IntervalSeconds": max(1, math.ceil(policy.backoff_seconds)),
        "BackoffRate": 2,
        "MaxAttempts": policy.max_attempts - 1,
        "MaxDelaySeconds": max(1, math.ceil(policy.backoff_max_seconds)),
        "JitterStrategy": "FULL" if policy.jitter else "NONE",
    }
    return rule


def _no_retry_for_permanent_errors() -> dict[str, Any]:
    return {"ErrorEquals": list(PERMANENT_ERRORS), "MaxAttempts": 0}


def _task(payload: dict[str, Any], policy: RetryPolicy, next_state: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": placeholder(STEP_FUNCTION),
        "Parameters": payload,
        "Retry": [_no_retry_for_permanent_errors(), retrier(policy)],
        "Next": next_state,
    }


def _check_state_names(compiled: CompiledRecipe) -> None:
    """Step names become state names: they must not collide with the compiler's own states,
    and must fit Step Functions' length limit."""
    problems = []
    for step in compiled.steps:
        if step.name in FIXED_STATES:
            problems.append(f"step name {step.name!r} is a state name the compiler uses")
        if len(_uncertain_choice(step)) > MAX_STATE_NAME:
            problems.append(f"step name {step.name!r} is too long for a state name")
    if problems:
        raise RecipeError(
            f"recipe {compiled.name!r} cannot become a state machine: " + "; ".join(problems)
        )


def _uncertain_choice(step: CompiledStep) -> str:
    return f"Uncertain? ({step.name})"


def _is_notify(step: CompiledStep) -> bool:
    return step.definition.name == "notify"


def _is_classify(step: CompiledStep) -> bool:
    return step.definition.name == "classify"


def compile_asl(compiled: CompiledRecipe) -> dict[str, Any]:
    """The state machine definition of a recipe (a JSON-ready dict)."""
    _check_state_names(compiled)
    recipe = compiled.recipe
    steps = compiled.steps
    # Where each step's state machine path begins: a notify step begins at its Choice.
    entries = [_uncertain_choice(step) if _is_notify(step) else step.name for step in steps]
    states: dict[str, Any] = {}
    states[ACCEPT] = {
        **_task({"action": "accept", "event.$": "$"}, recipe.retry, ROUTE),
        "Comment": "record the arrived object as an image of this recipe (idempotent)",
        "ResultSelector": {
            "image_id.$": "$.image_id",
            "recipe.$": "$.recipe",
            "skipped.$": "$.skipped",
            "reason.$": "$.reason",
        },
        "ResultPath": "$",
        # No image to mark failed yet: the event itself goes to the dead-letter queue.
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": SEND_TO_DLQ}],
    }
    states[ROUTE] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.skipped", "BooleanEquals": True, "Next": SKIPPED},
            {
                "Not": {"Variable": "$.recipe", "StringEquals": recipe.name},
                "Next": OTHER_RECIPE,
            },
        ],
        "Default": entries[0],
    }
    states[SKIPPED] = {
        "Type": "Succeed",
        "Comment": "not an original, or already finished: nothing to do",
    }
    states[OTHER_RECIPE] = {
        "Type": "Fail",
        "Error": "darkroom.OtherRecipe",
        "Cause": f"this state machine runs recipe {recipe.name!r}; the image names another",
    }
    classified = False
    for index, step in enumerate(steps):
        after = entries[index + 1] if index + 1 < len(steps) else PROCESSED
        if _is_notify(step):
            if not classified:  # compile_recipe's `needs` already guarantees it; say so if not
                raise RecipeError(f"recipe {recipe.name!r}: {step.name} comes before classify")
            states[_uncertain_choice(step)] = {
                "Type": "Choice",
                "Comment": "only uncertain classifications need a person",
                "Choices": [
                    {
                        "Variable": f"{CLASSIFICATION}.uncertain",
                        "BooleanEquals": True,
                        "Next": step.name,
                    }
                ],
                "Default": after,
            }
        payload = {
            "action": "step",
            "step": step.name,
            "image_id.$": "$.image_id",
            "recipe.$": "$.recipe",
        }
        states[step.name] = {
            **_task(payload, step.retry, after),
            "ResultSelector": STEP_RESULT,
            "ResultPath": CLASSIFICATION if _is_classify(step) else LAST_RESULT,
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RECORD_FAILURE}
            ],
        }
        classified = classified or _is_classify(step)
    states[PROCESSED] = {"Type": "Succeed"}
    states[RECORD_FAILURE] = {
        "Type": "Task",
        "Comment": "mark the image failed and announce ImageFailed",
        "Resource": placeholder(STEP_FUNCTION),
        "Parameters": {
            "action": "fail",
            "image_id.$": "$.image_id",
            "recipe.$": "$.recipe",
            "error.$": "$.error",
        },
        "ResultPath": "$",
        "Retry": [_no_retry_for_permanent_errors(), RECORD_FAILURE_RETRY],
        # Recording may fail too; the image still goes to the dead-letter queue.
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.record_error", "Next": SEND_TO_DLQ}
        ],
        "Next": SEND_TO_DLQ,
    }
    states[SEND_TO_DLQ] = {
        "Type": "Task",
        "Comment": "the failure, with the image id and recipe, for `darkroom dlq` to replay",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {"QueueUrl": placeholder(DEAD_LETTER_QUEUE), "MessageBody.$": "$"},
        "ResultPath": None,
        "Retry": [{**RECORD_FAILURE_RETRY, "ErrorEquals": ["States.ALL"]}],
        "Next": FAILED,
    }
    states[FAILED] = {
        "Type": "Fail",
        "Error": "darkroom.ImageFailed",
        "Cause": "a step failed every attempt; the image is in the dead-letter queue",
    }
    return {
        "Comment": f"darkroom recipe {recipe.name} v{recipe.version}: {recipe.description}".strip(),
        "StartAt": ACCEPT,
        "States": states,
    }


def to_json(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2) + "\n"
