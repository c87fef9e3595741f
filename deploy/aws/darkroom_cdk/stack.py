"""The darkroom stack: one per stage (`darkroom-dev`, `darkroom-staging`, `darkroom-prod`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Stack, Tags
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from darkroom.domain.errors import RecipeError
from darkroom.engine.consent import consent_checked
from darkroom.engine.recipes import CompiledRecipe, RecipeBook
from darkroom.settings import PortraitSettings
from darkroom_cdk.api import build_api, build_rest_api, public_url
from darkroom_cdk.database import build_database
from darkroom_cdk.functions import Shared, build_functions, environment
from darkroom_cdk.image import stage_build_context
from darkroom_cdk.monitoring import build_alarms, build_dashboard
from darkroom_cdk.stages import ConfigError, Options, options_from_context
from darkroom_cdk.storage import build_storage
from darkroom_cdk.workflow import build_messaging, build_state_machine

INTERFACE_ENDPOINTS = ["sqs", "events", "sns"]  # S3 and DynamoDB use free gateway endpoints


def announcements(recipe: CompiledRecipe) -> tuple[str, ...]:
    """What the recipe announces downstream (the inventory step's InventoryImageProcessed)."""
    return tuple(
        sorted({s.definition.event for s in recipe.steps if s.definition.name == "inventory"})
    )


def uses_provider(recipe: CompiledRecipe, provider: str) -> bool:
    return any(step.settings.model_dump().get("provider") == provider for step in recipe.steps)


class DarkroomStack(Stack):
    def __init__(
        self,
        scope: Construct,
        options: Options,
        recipe: CompiledRecipe,
        image_context: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            options.name,
            description=f"darkroom ({options.stage.name}): image ingestion and intelligence",
            **kwargs,
        )
        for key, value in (
            ("Environment", options.stage.name),
            ("Owner", options.owner),
            ("Project", options.project),
        ):
            Tags.of(self).add(key, value)
        rekognition = uses_provider(recipe, "rekognition")
        detects_faces = uses_provider(recipe, "rekognition-faces")
        portraits = consent_checked(recipe)
        if options.portrait_endpoint and not portraits:
            raise ConfigError(
                f"context portrait_endpoint: recipe {recipe.name!r} makes no portraits"
            )
        retention = PortraitSettings()
        storage = build_storage(
            self,
            options,
            recipe.recipe.max_deliveries,
            portrait_retention=(
                (round(retention.selfie_retention_days), round(retention.result_retention_days))
                if portraits
                else None
            ),
        )
        messaging = build_messaging(self, options, announcements(recipe))
        endpoints = (
            INTERFACE_ENDPOINTS
            + (["rekognition"] if rekognition or detects_faces else [])
            + (["sagemaker.runtime"] if options.portrait_endpoint else [])
        )
        database = build_database(self, options, endpoints)
        rest_api = build_rest_api(self, options)
        presign_key = secretsmanager.Secret(
            self,
            "PresignKey",
            secret_name=f"{options.name}/presign-key",
            description="DARKROOM_SECRET_KEY: signs presigned upload grants",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        shared = Shared(
            storage=storage,
            database=database,
            bus=messaging.bus,
            uncertain_topic=messaging.uncertain_topic,
            presign_key=presign_key.secret_value.unsafe_unwrap(),
            public_url=public_url(rest_api, options.stage.name),
            uses_rekognition=rekognition,
            detects_faces=detects_faces,
            portrait_endpoint=options.portrait_endpoint,
        )
        functions = build_functions(self, options, shared, image_context)
        machine = build_state_machine(self, options, recipe, functions.step, storage)
        api = build_api(self, options, rest_api, functions.api)
        build_alarms(self, options, storage, functions, machine, messaging.alarm_topic)
        build_dashboard(self, options, storage, functions, machine)

        worker_env = environment(options, shared)
        worker_env.pop("DARKROOM_DATABASE")  # holds dynamic references: read the secret instead
        worker_env.pop("DARKROOM_HOME")
        outputs = {
            "ApiUrl": rest_api.url,
            "BucketName": storage.bucket.bucket_name,
            "QueueUrl": storage.queue.queue_url,
            "DeadLetterQueueUrl": storage.dead_letters.queue_url,
            "EventBusName": messaging.bus.event_bus_name,
            "UncertainTopicArn": messaging.uncertain_topic.topic_arn,
            "AlarmTopicArn": messaging.alarm_topic.topic_arn,
            "DetectionLogTable": storage.detection_log.table_name,
            "StateMachineArn": machine.state_machine_arn,
            "DatabaseSecretArn": database.secret.secret_arn,
            "WorkerEnvironment": " ".join(f"{k}={v}" for k, v in worker_env.items()),
        }
        for name, plan in api.plans.items():
            outputs[f"{name.title()}UsagePlanId"] = plan.usage_plan_id
        if api.user_pool is not None:
            outputs["UserPoolId"] = api.user_pool.user_pool_id
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)


def build_app(app: App, image_context: Path | None = None) -> DarkroomStack:
    """The stack the app's context asks for. Raises ConfigError for context it cannot use."""
    options = options_from_context(app.node.try_get_context)
    try:
        recipe = RecipeBook().get(options.recipe)
    except RecipeError as exc:
        raise ConfigError(f"context recipe={options.recipe!r}: {exc}") from None
    context = image_context or stage_build_context()
    return DarkroomStack(app, options, recipe, context)
