"""The Step Functions task Lambda: a recipe as a state machine, one named step per call.

    {"action": "accept", "event": <S3 "Object Created" event, or {"bucket": B, "key": K}>}
    {"action": "step", "step": STEP, "image_id": ID, "recipe": NAME}
    {"action": "fail", "image_id": ID, "recipe": NAME, "error": {"Error": E, "Cause": C}}

The state machine holds the order, the retries (a failed step raises) and the catch (`fail`).
Every action is idempotent: a repeated step finds its stored output and runs nothing.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from darkroom.domain.records import Image
from darkroom.lambdas import arrivals, messages
from darkroom.lambdas.runtime import (
    count_image,
    count_step_failure,
    log_metrics,
    logger,
    runtime,
    time_steps,
    tracer,
)


class BadTask(ValueError):
    """A task input that does not follow the contract."""


def accept(event: dict[str, Any]) -> dict[str, Any]:
    obj = _stored_object(_field(event, "event", dict))
    arrival = arrivals.admit(runtime(), obj, enqueue=False)
    image = arrival.image
    skipped = arrival.skipped
    if skipped is None and image is not None and image.status.final:
        skipped = f"already {image.status.value}"
    return {
        "image_id": image.id if image else None,
        "recipe": image.recipe if image else runtime().settings.recipe,
        "owner": image.owner if image else None,
        "skipped": skipped is not None,
        "reason": skipped,
    }


def _stored_object(event: dict[str, Any]) -> messages.StoredObject:
    if "detail-type" in event:
        found = messages.parse(event).objects
        if len(found) != 1:
            raise BadTask("accept: the event is not an S3 Object Created event")
        return found[0]
    bucket, key = _field(event, "bucket", str), _field(event, "key", str)
    return messages.StoredObject(bucket=bucket, key=key, size=_size_of(bucket, key), etag="")


def _size_of(bucket: str, key: str) -> int | None:
    """The size of an object named without one. A store that can tell it without reading the
    bytes (a HEAD) says so; otherwise the bytes are read, as validate would read them anyway."""
    rt = runtime()
    _, prefix = arrivals.storage_root(rt)
    if not key.startswith(prefix + arrivals.INPUT):
        return None  # not an original: admit says why
    relative = key[len(prefix) :]
    size = getattr(rt.blobs, "size", None)
    if callable(size):
        return int(size(relative))
    return len(rt.blobs.get(relative))


def step(event: dict[str, Any]) -> dict[str, Any]:
    name, image_id = _field(event, "step", str), _field(event, "image_id", str)
    rt = runtime()
    _check_recipe(event, rt.catalog.get_image(image_id))
    try:
        run = rt.engine.run_step(image_id, name)
    except Exception:
        count_step_failure(_field(event, "recipe", str), name)
        raise  # the state machine's Retry, then its Catch
    image = run.image
    if run.ran and run.seconds > 0:  # 0: rejected, the step's time went to the answer
        time_steps(image.recipe, {name: run.seconds})
    if run.ran and image.status.final:
        count_image(image)
    logger.info(
        "step finished" if run.ran else "step already done",
        extra={"image_id": image_id, "step": name, "status": image.status.value},
    )
    return {
        "image_id": image.id,
        "recipe": image.recipe,
        "step": name,
        "status": image.status.value,
        "uncertain": image.uncertain,
        "class": image.class_name,
    }


def fail(event: dict[str, Any]) -> dict[str, Any]:
    image_id = _field(event, "image_id", str)
    rt = runtime()
    _check_recipe(event, rt.catalog.get_image(image_id))
    error = describe_error(_field(event, "error", dict))
    before = rt.catalog.get_image(image_id)
    image = rt.engine.fail(image_id, error)
    if before is not None and not before.status.final:
        count_image(image)
    return {"image_id": image.id, "recipe": image.recipe, "error": image.error or error}


def describe_error(error: dict[str, Any]) -> str:
    """Step Functions' {"Error", "Cause"}; a Lambda's Cause is JSON with its errorMessage."""
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause")
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = parsed["errorMessage"]
    return f"{name}: {cause}" if cause else name


def _check_recipe(event: dict[str, Any], image: Image | None) -> None:
    recipe = _field(event, "recipe", str)
    if image is not None and image.recipe != recipe:
        raise BadTask(f"image {image.id} runs recipe {image.recipe!r}, not {recipe!r}")


def _field(event: dict[str, Any], name: str, kind: type) -> Any:
    value = event.get(name)
    if not isinstance(value, kind):
        raise BadTask(f"task input needs {name!r} ({kind.__name__}); got {value!r}")
    return value


ACTIONS = {"accept": accept, "step": step, "fail": fail}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = ACTIONS.get(str(event.get("action")))
    if action is None:
        raise BadTask(f"unknown action {event.get('action')!r}; expected one of {sorted(ACTIONS)}")
    return action(event)
