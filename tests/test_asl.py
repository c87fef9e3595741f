"""Recipes compiled to Amazon States Language: structure, retry policy, the uncertain branch, a
walk through the machine's data flow, and validation by cfn-lint (and asl-validator if present)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from darkroom.cli.main import app
from darkroom.domain.errors import RecipeError
from darkroom.engine.asl import (
    DEAD_LETTER_QUEUE,
    PLACEHOLDERS,
    STEP_FUNCTION,
    compile_asl,
    retrier,
)
from darkroom.engine.recipes import CompiledRecipe, RecipeBook, load_text

NO_NOTIFY = """
name: quiet
retry: {max_attempts: 6, backoff_seconds: 0.5, backoff_max_seconds: 40, jitter: false}
steps:
  - step: validate
  - step: detect
    retry: {max_attempts: 1, backoff_seconds: 7.2, backoff_max_seconds: 9, jitter: true}
  - step: classify
"""
NOTIFY_LAST = (
    "name: tell\nsteps: [{step: validate}, {step: detect}, {step: classify}, {step: notify}]\n"
)
TERMINAL = {"Succeed", "Fail"}
RETRY_FIELDS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
}


def recipes() -> list[CompiledRecipe]:
    return [
        *RecipeBook().all(),
        load_text(NO_NOTIFY, origin="test"),
        load_text(NOTIFY_LAST, origin="test"),
    ]


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [rule["Next"] for rule in state.get("Choices", [])]
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return targets


def reachable(definition: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(transitions(definition["States"][name]))
    return seen


def retry_problems(retry: list[dict[str, Any]]) -> list[str]:
    """The States Language's rules for a Retry field (what the validators do not all check)."""
    problems = []
    for index, rule in enumerate(retry):
        where = f"Retry[{index}]"
        if set(rule) - RETRY_FIELDS:
            problems.append(f"{where}: unknown fields {set(rule) - RETRY_FIELDS}")
        errors = rule.get("ErrorEquals")
        if not errors or not all(isinstance(e, str) for e in errors):
            problems.append(f"{where}: ErrorEquals must be a non-empty list of names")
        elif "States.ALL" in errors and (len(errors) > 1 or index != len(retry) - 1):
            problems.append(f"{where}: States.ALL must be alone, in the last retrier")
        interval = rule.get("IntervalSeconds", 1)
        if not (isinstance(interval, int) and 1 <= interval <= 99_999_999):
            problems.append(f"{where}: IntervalSeconds must be a whole number >= 1")
        attempts = rule.get("MaxAttempts", 3)
        if not (isinstance(attempts, int) and 0 <= attempts <= 99_999_999):
            problems.append(f"{where}: MaxAttempts must be a whole number >= 0")
        if rule.get("BackoffRate", 2.0) < 1.0:
            problems.append(f"{where}: BackoffRate must be >= 1.0")
        delay = rule.get("MaxDelaySeconds", 1)
        if not (isinstance(delay, int) and 0 < delay < 31_622_401):
            problems.append(f"{where}: MaxDelaySeconds must be a whole number in (0, 31622401)")
        if rule.get("JitterStrategy", "NONE") not in {"FULL", "NONE"}:
            problems.append(f"{where}: JitterStrategy must be FULL or NONE")
    return problems


@pytest.mark.parametrize("compiled", recipes(), ids=lambda c: c.name)
def test_every_transition_exists_every_state_is_reachable_and_ends_right(
    compiled: CompiledRecipe,
) -> None:
    definition = compile_asl(compiled)
    states = definition["States"]
    assert definition["StartAt"] == "Accept"
    for name, state in states.items():
        assert len(name) <= 80
        for target in transitions(state):
            assert target in states, f"{name} -> {target}: no such state"
        if state["Type"] in TERMINAL:
            assert not transitions(state) and "End" not in state, name
        else:
            assert transitions(state), f"{name} leads nowhere"
    assert reachable(definition) == set(states)
    assert {n for n, s in states.items() if s["Type"] in TERMINAL} == {
        "Skipped",
        "OtherRecipe",
        "Processed",
        "Failed",
    }


@pytest.mark.parametrize("compiled", recipes(), ids=lambda c: c.name)
def test_each_step_is_a_task_with_the_recipes_retry_and_a_catch_to_the_dlq(
    compiled: CompiledRecipe,
) -> None:
    states = compile_asl(compiled)["States"]
    for step in compiled.steps:
        task = states[step.name]
        assert task["Type"] == "Task"
        assert task["Resource"] == "${" + STEP_FUNCTION + "}"
        assert task["Parameters"] == {
            "action": "step",
            "step": step.name,
            "image_id.$": "$.image_id",
            "recipe.$": "$.recipe",
        }
        assert retry_problems(task["Retry"]) == []
        policy = step.retry
        assert task["Retry"][-1] == {
            "ErrorEquals": ["States.TaskFailed"],
            "IntervalSeconds": max(1, math.ceil(policy.backoff_seconds)),
            "BackoffRate": 2,
            "MaxAttempts": policy.max_attempts - 1,  # ASL counts retries, the recipe attempts
            "MaxDelaySeconds": max(1, math.ceil(policy.backoff_max_seconds)),
            "JitterStrategy": "FULL" if policy.jitter else "NONE",
        }
        assert task["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}
        ]
        # Small state: three fields of the result, in one slot, never the whole input.
        assert set(task["ResultSelector"]) == {"status.$", "uncertain.$", "class.$"}
        assert task["ResultPath"] in {"$.last", "$.classification"}
    assert states["RecordFailure"]["Parameters"]["action"] == "fail"
    assert states["RecordFailure"]["Next"] == "SendToDeadLetterQueue"
    send = states["SendToDeadLetterQueue"]
    assert send["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert send["Parameters"]["QueueUrl"] == "${" + DEAD_LETTER_QUEUE + "}"
    assert send["Next"] == "Failed" and states["Failed"]["Type"] == "Fail"
    for name in ("Accept", "RecordFailure", "SendToDeadLetterQueue"):
        assert retry_problems(states[name]["Retry"]) == []


def test_retry_follows_each_steps_own_policy() -> None:
    quiet = load_text(NO_NOTIFY, origin="test")
    states = compile_asl(quiet)["States"]
    assert states["validate"]["Retry"][-1] == {
        "ErrorEquals": ["States.TaskFailed"],
        "IntervalSeconds": 1,  # 0.5 s rounds up: ASL takes whole seconds, at least 1
        "BackoffRate": 2,
        "MaxAttempts": 5,
        "MaxDelaySeconds": 40,
        "JitterStrategy": "NONE",
    }
    assert states["detect"]["Retry"][-1] == {
        "ErrorEquals": ["States.TaskFailed"],
        "IntervalSeconds": 8,
        "BackoffRate": 2,
        "MaxAttempts": 0,  # one attempt: no retry
        "MaxDelaySeconds": 9,
        "JitterStrategy": "FULL",
    }
    assert retrier(quiet.steps[0].retry) == states["validate"]["Retry"][-1]


@pytest.mark.parametrize("compiled", recipes(), ids=lambda c: c.name)
def test_the_uncertain_choice_exists_exactly_when_the_recipe_notifies(
    compiled: CompiledRecipe,
) -> None:
    states = compile_asl(compiled)["States"]
    choices = {n: s for n, s in states.items() if n.startswith("Uncertain?")}
    notifies = [s.name for s in compiled.steps if s.definition.name == "notify"]
    assert [c.split("(")[1].rstrip(")") for c in choices] == notifies
    for name, choice in choices.items():
        notify = name.split("(")[1].rstrip(")")
        assert choice["Type"] == "Choice"
        assert choice["Choices"] == [
            {"Variable": "$.classification.uncertain", "BooleanEquals": True, "Next": notify}
        ]
        assert choice["Default"] == states[notify]["Next"]  # certain: straight past notify
        assert [n for n, s in states.items() if s.get("Next") == notify] == []


def test_a_step_name_that_collides_with_a_compiler_state_is_refused() -> None:
    clash = load_text("name: x\nsteps: [{step: validate, name: Processed}]\n", origin="test")
    with pytest.raises(RecipeError, match="'Processed' is a state name the compiler uses"):
        compile_asl(clash)


# A walk through the machine: Tasks answered like the step Lambda answers (the AWS contract),
# Choices decided, paths resolved as Step Functions resolves them. It proves the data flow: the
# fields each state reads were written by an earlier one, and the state stays small.


def read(data: Any, path: str) -> Any:
    assert path.startswith("$"), path
    for part in [p for p in path[1:].split(".") if p]:
        data = data[part]  # a missing field is a States.Runtime error in AWS: fail loudly
    return data


def resolve(template: dict[str, Any], data: Any) -> dict[str, Any]:
    return {
        (key[:-2] if key.endswith(".$") else key): (
            read(data, value) if key.endswith(".$") else value
        )
        for key, value in template.items()
    }


def place(data: dict[str, Any], path: str | None, result: Any) -> Any:
    if path is None:
        return data
    if path == "$":
        return result
    merged = json.loads(json.dumps(data))
    target = merged
    parts = path[2:].split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = result
    return merged


def matches(rule: dict[str, Any], data: Any) -> bool:
    if "Not" in rule:
        return not matches(rule["Not"], data)
    value = read(data, rule["Variable"])
    if "BooleanEquals" in rule:
        return bool(value is rule["BooleanEquals"])
    return bool(value == rule["StringEquals"])


def run_machine(
    definition: dict[str, Any], step_lambda: Any, event: dict[str, Any]
) -> tuple[str, list[str], list[Any], int]:
    """(final state, Task calls in order, DLQ messages, largest state in bytes)."""
    states, name, data = definition["States"], definition["StartAt"], event
    calls: list[str] = []
    dead_letters: list[Any] = []
    largest = 0
    while True:
        state = states[name]
        largest = max(largest, len(json.dumps(data)))
        kind = state["Type"]
        if kind in TERMINAL:
            return name, calls, dead_letters, largest
        if kind == "Choice":
            name = next(
                (rule["Next"] for rule in state["Choices"] if matches(rule, data)),
                state["Default"],
            )
            continue
        payload = resolve(state["Parameters"], data)
        try:
            if state["Resource"] == "arn:aws:states:::sqs:sendMessage":
                dead_letters.append(payload["MessageBody"])
                result: Any = {}
            else:
                calls.append(payload.get("step") or payload["action"])
                result = step_lambda(payload)
        except RuntimeError as exc:
            catch = state["Catch"][0]
            data = place(data, catch["ResultPath"], {"Error": "RuntimeError", "Cause": str(exc)})
            name = catch["Next"]
            continue
        if "ResultSelector" in state:
            result = resolve(state["ResultSelector"], result)
        data = place(data, state.get("ResultPath", "$"), result)
        name = state["Next"]


def fake_step_lambda(*, uncertain: bool, failing: str | None = None) -> Any:
    def answer(event: dict[str, Any]) -> dict[str, Any]:
        if event["action"] == "accept":
            assert event["event"]["detail"]["object"]["key"].startswith("input/")
            return {
                "image_id": "img1",
                "recipe": "pets",
                "owner": "o",
                "skipped": False,
                "reason": None,
            }
        if event["action"] == "fail":
            return {"image_id": event["image_id"], "recipe": event["recipe"], "error": "boom"}
        if event["step"] == failing:
            raise RuntimeError(f"{failing} broke")
        return {
            "image_id": event["image_id"],
            "recipe": event["recipe"],
            "step": event["step"],
            "status": "processing",
            "uncertain": uncertain,
            "class": "cat",
            "output": {"big": "x" * 100_000},  # what a careless machine would keep
        }

    return answer


S3_EVENT = {
    "detail-type": "Object Created",
    "source": "aws.s3",
    "detail": {"bucket": {"name": "b"}, "object": {"key": "input/o/img1.jpg", "size": 1}},
}


def test_walk_uncertain_images_reach_notify_and_certain_ones_skip_it() -> None:
    pets = compile_asl(RecipeBook().get("pets"))
    steps = [s.name for s in RecipeBook().get("pets").steps]
    end, calls, dlq, largest = run_machine(pets, fake_step_lambda(uncertain=True), S3_EVENT)
    assert (end, calls, dlq) == ("Processed", ["accept", *steps], [])
    end, calls, dlq, _ = run_machine(pets, fake_step_lambda(uncertain=False), S3_EVENT)
    assert (end, calls) == ("Processed", ["accept", *[s for s in steps if s != "notify"]])
    assert largest < 2_000  # far under 256 KB though every step answered 100 KB


def test_walk_a_failing_step_is_recorded_and_sent_to_the_dlq() -> None:
    pets = compile_asl(RecipeBook().get("pets"))
    end, calls, dlq, _ = run_machine(
        pets, fake_step_lambda(uncertain=False, failing="detect"), S3_EVENT
    )
    assert end == "Failed"
    assert calls == ["accept", "validate", "normalize", "hash", "thumbnail", "detect", "fail"]
    assert dlq == [{"image_id": "img1", "recipe": "pets", "error": "boom"}]


def test_walk_skipped_and_other_recipe_images_stop_after_accept() -> None:
    pets = compile_asl(RecipeBook().get("pets"))

    def skipped(event: dict[str, Any]) -> dict[str, Any]:
        return {"image_id": None, "recipe": "pets", "owner": None, "skipped": True, "reason": "x"}

    def other(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "image_id": "i",
            "recipe": "catalog",
            "owner": "o",
            "skipped": False,
            "reason": None,
        }

    assert run_machine(pets, skipped, S3_EVENT)[:2] == ("Skipped", ["accept"])
    assert run_machine(pets, other, S3_EVENT)[:2] == ("OtherRecipe", ["accept"])


# Validation by real validators.

SUBSTITUTIONS = {
    STEP_FUNCTION: "arn:aws:lambda:us-east-1:123456789012:function:darkroom-dev-step",
    DEAD_LETTER_QUEUE: "https://sqs.us-east-1.amazonaws.com/123456789012/darkroom-dev-dlq",
}


def cfn_lint_definition(definition: dict[str, Any]) -> list[str]:
    """cfn-lint's state machine checks (E3601) on a minimal template embedding the ASL."""
    from cfnlint.api import ManualArgs, lint

    assert set(SUBSTITUTIONS) == set(PLACEHOLDERS)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/darkroom-states",
                    "Definition": definition,
                    "DefinitionSubstitutions": SUBSTITUTIONS,
                },
            }
        },
    }
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
    return [f"{m.rule.id} {m.message}" for m in matches]


@pytest.mark.parametrize("compiled", recipes(), ids=lambda c: c.name)
def test_cfn_lint_accepts_every_compiled_recipe(compiled: CompiledRecipe) -> None:
    assert cfn_lint_definition(compile_asl(compiled)) == []


def broken_definitions() -> dict[str, dict[str, Any]]:
    good = compile_asl(RecipeBook().get("pets"))
    broken = {}
    typo = json.loads(json.dumps(good))
    typo["States"]["validate"]["Retries"] = typo["States"]["validate"].pop("Retry")
    broken["misspelt field"] = typo
    choice = json.loads(json.dumps(good))
    choice["States"]["Accepted?"]["Choices"][0]["BooleanEquals"] = "yes"
    broken["choice compares a string"] = choice
    start = json.loads(json.dumps(good))
    start["StartAt"] = "Nowhere"
    broken["missing start state"] = start
    task = json.loads(json.dumps(good))
    del task["States"]["classify"]["Resource"]
    broken["task without resource"] = task
    return broken


@pytest.mark.parametrize("problem", list(broken_definitions()))
def test_cfn_lint_rejects_a_broken_definition(problem: str) -> None:
    assert any(m.startswith("E3601") for m in cfn_lint_definition(broken_definitions()[problem]))


def asl_validator() -> str | None:
    """asl-validator (npm) when it is installed here: DARKROOM_ASL_VALIDATOR names the program,
    or it is on PATH (`npm install -g asl-validator`). An npm package, not a Python one: .ci/run
    installs it, and elsewhere cfn-lint above and the structure tests keep the same promises."""
    return os.environ.get("DARKROOM_ASL_VALIDATOR") or shutil.which("asl-validator")


@pytest.mark.skipif(asl_validator() is None, reason="asl-validator (npm) not installed")
def test_asl_validator_accepts_recipes_and_rejects_a_missing_target(tmp_path: Path) -> None:
    program = asl_validator()
    assert program is not None
    for compiled in recipes():
        path = tmp_path / f"{compiled.name}.json"
        path.write_text(json.dumps(compile_asl(compiled)))
        done = subprocess.run([program, "--json-path", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    broken = compile_asl(RecipeBook().get("pets"))
    del broken["States"]["Processed"]  # index's Next now points nowhere
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    done = subprocess.run([program, "--json-path", str(path)], capture_output=True, text=True)
    assert done.returncode != 0 and "Processed" in done.stdout + done.stderr


def test_cli_prints_and_writes_the_definition(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["recipes", "asl", "pets"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == compile_asl(RecipeBook().get("pets"))
    out = tmp_path / "pets.asl.json"
    written = runner.invoke(app, ["recipes", "asl", "pets", "--out", str(out)])
    assert written.exit_code == 0 and json.loads(out.read_text()) == json.loads(printed.stdout)
    unknown = runner.invoke(app, ["recipes", "asl", "nope"])
    assert unknown.exit_code == 2 and "unknown recipe 'nope'" in unknown.output
