"""The darkroom stack: one per stage (`darkroom-dev`, `darkroom-staging`, `darkroom-prod`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, CustomResource, Stack, Tags
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from darkroom.adapters.aws.secrets import UNSET
from darkroom.domain.errors import RecipeError
from darkroom.engine.consent import consent_checked
from darkroom.engine.recipes import CompiledRecipe, RecipeBook
from darkroom.settings import PortraitSettings
from darkroom_cdk.api import build_api, build_rest_api, public_url
from darkroom_cdk.database import build_database
from darkroom_cdk.functions import Functions, Shared, build_functions, environment
from darkroom_cdk.image import stage_build_context
from darkroom_cdk.monitoring import build_alarms, build_dashboard
from darkroom_cdk.nag import suppress
from darkroom_cdk.recipe_needs import RecipeNeeds, recipe_needs
from darkroom_cdk.stages import ConfigError, Options, options_from_context
from darkroom_cdk.storage import build_storage, darkroom_prefixes
from darkroom_cdk.workflow import build_messaging, build_state_machine

# S3 and DynamoDB use free gateway endpoints; Secrets Manager serves the secrets read at run time.
INTERFACE_ENDPOINTS = ["sqs", "events", "sns", "secretsmanager"]


def announcements(recipe: CompiledRecipe) -> tuple[str, ...]:
    """What the recipe announces downstream (the inventory step's InventoryImageProcessed)."""
    return tuple(
        sorted({s.definition.event for s in recipe.steps if s.definition.name == "inventory"})
    )


def uses_provider(recipe: CompiledRecipe, provider: str) -> bool:
    return any(step.settings.model_dump().get("provider") == provider for step in recipe.steps)


def check_recipe(options: Options, recipe: CompiledRecipe, needs: RecipeNeeds) -> None:
    """Refuse, with the reason, a recipe the deployment could not run."""
    if needs.unavailable:
        raise ConfigError(
            f"recipe {recipe.name!r} cannot run on Lambda: {'; '.join(needs.unavailable)}"
        )
    if needs.internet and options.database == "aurora" and options.egress != "nat":
        raise ConfigError(
            f"recipe {recipe.name!r} calls model services on the internet "
            f"({', '.join(needs.internet)}), and the functions' subnets have no route out: "
            "deploy with -c egress=nat (a NAT gateway, docs/deploy-aws.md) or "
            "-c database=external (functions outside any VPC)"
        )


def model_services(options: Options, needs: RecipeNeeds) -> tuple[str, ...]:
    """Whose keys the stack keeps: as asked, else OpenAI's (analysis and embeddings both) for a
    recipe that calls model services."""
    if options.model_keys:
        return options.model_keys
    return ("OPENAI",) if needs.internet else ()


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
        needs = recipe_needs(recipe)
        check_recipe(options, recipe, needs)
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
            + (["rekognition"] if needs.rekognition or detects_faces else [])
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
        model_keys: dict[str, secretsmanager.ISecret] = {
            f"DARKROOM_{service}_API_KEY": secretsmanager.Secret(
                self,
                f"{service.title()}ApiKey",
                secret_name=f"{options.name}/{service.lower()}-api-key",
                description=f"DARKROOM_{service}_API_KEY for the recipe's model calls: "
                "aws secretsmanager put-secret-value --secret-string KEY",
                secret_string_value=_unset(),
            )
            for service in model_services(options, needs)
        }
        admin_key = secretsmanager.Secret(
            self,
            "AdminKey",
            secret_name=f"{options.name}/admin-key",
            description="darkroom's first admin API key (JSON: id, key, owner), made at deploy",
        )
        shared = Shared(
            storage=storage,
            database=database,
            bus=messaging.bus,
            uncertain_topic=messaging.uncertain_topic,
            presign_key=presign_key,
            model_keys=model_keys,
            admin_key=admin_key,
            public_url=public_url(rest_api, options.stage.name),
            needs=needs,
            prefixes=darkroom_prefixes(recipe),
            detects_faces=detects_faces,
            portrait_endpoint=options.portrait_endpoint,
        )
        functions = build_functions(self, options, shared, image_context)
        machine = None
        if functions.step is not None:
            machine = build_state_machine(self, options, recipe, functions.step, storage)
        api = build_api(self, options, rest_api, functions.api)
        bootstrap_admin_key(self, options, functions, admin_key, database, api.plans)
        build_alarms(self, options, storage, functions, machine, messaging.alarm_topic)
        build_dashboard(self, options, storage, functions, machine)
        suppress(self, options, (p for group in shared.prefixes.values() for p in group))

        worker_env = environment(options, shared)
        worker_env.pop("DARKROOM_HOME")
        outputs = {
            "ApiUrl": rest_api.url,
            "RestApiId": rest_api.rest_api_id,
            "BucketName": storage.bucket.bucket_name,
            "QueueUrl": storage.queue.queue_url,
            "DeadLetterQueueUrl": storage.dead_letters.queue_url,
            "EventBusName": messaging.bus.event_bus_name,
            "UncertainTopicArn": messaging.uncertain_topic.topic_arn,
            "AlarmTopicArn": messaging.alarm_topic.topic_arn,
            "DetectionLogTable": storage.detection_log.table_name,
            "DatabaseSecretArn": database.secret.secret_arn,
            "AdminKeySecretArn": admin_key.secret_arn,
            "KeysFunctionName": functions.keys.function_name,
            "WorkerEnvironment": " ".join(f"{k}={v}" for k, v in worker_env.items()),
        }
        if machine is not None:
            outputs["StateMachineArn"] = machine.state_machine_arn
        for variable, secret in model_keys.items():
            service = variable.removeprefix("DARKROOM_").removesuffix("_API_KEY").title()
            outputs[f"{service}ApiKeySecretArn"] = secret.secret_arn
        for name, plan in api.plans.items():
            outputs[f"{name.title()}UsagePlanId"] = plan.usage_plan_id
        if api.user_pool is not None:
            outputs["UserPoolId"] = api.user_pool.user_pool_id
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)


def _unset() -> Any:
    from aws_cdk import SecretValue

    # The operator puts the service's key here; until then darkroom treats it as absent and
    # each image fails with the reason, ready to replay.
    return SecretValue.unsafe_plain_text(UNSET)


def bootstrap_admin_key(
    scope: Construct,
    options: Options,
    functions: Functions,
    secret: secretsmanager.ISecret,
    database: Any,
    plans: dict[str, apigw.UsagePlan],
) -> None:
    """The first admin key, made at deploy time by the keys function inside the VPC, kept in
    the admin-key secret, and the API Gateway key of the same value on the unlimited plan."""
    made = CustomResource(
        scope,
        "AdminKeyBootstrap",
        service_token=functions.keys.function_arn,
        resource_type="Custom::DarkroomAdminKey",
        properties={"SecretArn": secret.secret_arn, "Plan": "unlimited"},
    )
    if database.cluster is not None:
        made.node.add_dependency(database.cluster)
    gateway_key = apigw.CfnApiKey(
        scope,
        "AdminApiKey",
        name=f"{options.name}-admin",
        description="darkroom's first admin key (its value: the admin-key secret)",
        enabled=True,
        value=made.get_att_string("Secret"),
    )
    apigw.CfnUsagePlanKey(
        scope,
        "AdminUsagePlanKey",
        key_id=gateway_key.ref,
        key_type="API_KEY",
        usage_plan_id=plans["unlimited"].usage_plan_id,
    )


def build_app(app: App, image_context: Path | None = None) -> DarkroomStack:
    """The stack the app's context asks for. Raises ConfigError for context it cannot use."""
    options = options_from_context(app.node.try_get_context)
    try:
        recipe = RecipeBook().get(options.recipe)
    except RecipeError as exc:
        raise ConfigError(f"context recipe={options.recipe!r}: {exc}") from None
    context = image_context or stage_build_context()
    return DarkroomStack(app, options, recipe, context)
