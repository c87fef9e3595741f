"""API Gateway (REST) in front of the API function: keys, usage plans, validation, CORS, logs.

API Gateway and darkroom read the same `x-api-key` header. A key works once it exists in both:
`darkroom keys create --stack NAME` makes darkroom's key (through the keys function) and the
API Gateway key of the same value on the usage plan of the same name, in one command; the first
admin key is made at deploy time (stack.py). API Gateway's own refusals (401, 403, 429, 5xx)
carry the CORS headers too (gateway responses), so a browser sees the status, not a CORS error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from darkroom.settings import DEFAULT_PLANS, Plan
from darkroom_cdk.functions import LOG_RETENTION
from darkroom_cdk.schemas import request_models
from darkroom_cdk.stages import Options

ACCOUNT_RATE_LIMIT = 10_000  # API Gateway's default account-level throttle (requests/second)
ACCOUNT_BURST_LIMIT = 5_000
BINARY_MEDIA_TYPES = ["multipart/form-data", "application/octet-stream", "image/*"]
PERIODS = {"day": apigw.Period.DAY, "month": apigw.Period.MONTH}
CORS_HEADERS = ["Content-Type", "X-API-Key", "Idempotency-Key", "Authorization"]
CORS_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
# What API Gateway's account role does: create and write the execution and access log groups.
API_GATEWAY_LOGS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
)


@dataclass(frozen=True)
class Api:
    rest_api: apigw.RestApi
    plans: dict[str, apigw.UsagePlan]
    user_pool: cognito.UserPool | None


def throttle_for(plan: Plan) -> apigw.ThrottleSettings | None:
    """None for a plan above the account's own limits: those limits are its throttle."""
    if plan.rate >= ACCOUNT_RATE_LIMIT:
        return None
    return apigw.ThrottleSettings(
        rate_limit=plan.rate, burst_limit=min(plan.burst, ACCOUNT_BURST_LIMIT)
    )


def quota_for(plan: Plan) -> apigw.QuotaSettings | None:
    if plan.quota is None:
        return None
    return apigw.QuotaSettings(limit=plan.quota, period=PERIODS[plan.period])


def public_url(rest_api: apigw.RestApi, stage_name: str) -> str:
    """The stage's URL from the API's id alone: `rest_api.url` would depend on the deployment,
    which depends on the function, whose environment wants this URL."""
    return (
        f"https://{rest_api.rest_api_id}.execute-api.{rest_api.stack.region}."
        f"{rest_api.stack.url_suffix}/{stage_name}"
    )


def gateway_cors_headers(origins: tuple[str, ...]) -> dict[str, str]:
    """Headers of API Gateway's own answers (values are quoted literals, or a request mapping).
    Several origins cannot be one literal: the request's Origin is echoed, and only darkroom's
    own error body (no data) is exposed by it."""
    origin = f"'{origins[0]}'" if len(origins) == 1 else "method.request.header.Origin"
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": f"'{','.join(CORS_HEADERS)}'",
        "Access-Control-Allow-Methods": f"'{','.join(CORS_METHODS)}'",
        "Vary": "'Origin'",
    }


def build_cloudwatch_role(scope: Construct, options: Options) -> apigw.CfnAccount:
    """API Gateway's account-level logging role, with an inline policy (CDK's own role carries
    the managed AmazonAPIGatewayPushToCloudWatchLogs)."""
    role = iam.Role(
        scope,
        "ApiGatewayLogsRole",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description=f"API Gateway writes execution and access logs ({options.name})",
    )
    stack = role.stack
    role.add_to_policy(
        iam.PolicyStatement(
            actions=list(API_GATEWAY_LOGS),
            resources=[f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"],
        )
    )
    account = apigw.CfnAccount(scope, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
    account.apply_removal_policy(RemovalPolicy.RETAIN)  # other APIs of the region share it
    return account


def build_rest_api(scope: Construct, options: Options) -> apigw.RestApi:
    """The API itself, before the function exists (its URL goes into the function)."""
    stage = options.stage
    access_log = logs.LogGroup(
        scope,
        "ApiAccessLogs",
        log_group_name=f"/aws/apigateway/{options.name}/access",
        retention=LOG_RETENTION[stage.log_retention_days],
        removal_policy=RemovalPolicy.RETAIN if stage.retain_data else RemovalPolicy.DESTROY,
    )
    cors = None
    if options.cors_origins:
        cors = apigw.CorsOptions(
            allow_origins=list(options.cors_origins),
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
        )
    rest_api = apigw.RestApi(
        scope,
        "Api",
        rest_api_name=options.name,
        description="darkroom HTTP API (the FastAPI app on Lambda)",
        api_key_source_type=apigw.ApiKeySourceType.HEADER,
        binary_media_types=BINARY_MEDIA_TYPES,
        cloud_watch_role=False,  # build_cloudwatch_role: the same, without a managed policy
        endpoint_types=[apigw.EndpointType.REGIONAL],
        default_cors_preflight_options=cors,
        deploy_options=apigw.StageOptions(
            stage_name=stage.name,
            access_log_destination=apigw.LogGroupLogDestination(access_log),
            access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                caller=False,
                http_method=True,
                ip=True,
                protocol=True,
                request_time=True,
                resource_path=True,
                response_length=True,
                status=True,
                user=True,
            ),
            metrics_enabled=True,
            # Execution logs: errors only, never request or response bodies (images, keys).
            logging_level=apigw.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,
            tracing_enabled=True,
            throttling_rate_limit=stage.api_rate_limit,
            throttling_burst_limit=stage.api_burst_limit,
        ),
    )
    account = build_cloudwatch_role(scope, options)
    rest_api.deployment_stage.node.add_dependency(account)
    if options.cors_origins:
        headers = gateway_cors_headers(options.cors_origins)
        for name, kind in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            rest_api.add_gateway_response(name, type=kind, response_headers=headers)
    return rest_api


def build_api(
    scope: Construct, options: Options, rest_api: apigw.RestApi, function: lambda_.IFunction
) -> Api:
    integration = apigw.LambdaIntegration(function, proxy=True)
    user_pool = None
    keyed: dict[str, Any] = {"api_key_required": True}
    if options.cognito:
        user_pool = cognito.UserPool(
            scope,
            "UserPool",
            user_pool_name=options.name,
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            removal_policy=(
                RemovalPolicy.RETAIN if options.stage.retain_data else RemovalPolicy.DESTROY
            ),
        )
        user_pool.add_client("ApiClient", auth_flows=cognito.AuthFlow(user_srp=True))
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            scope, "Authorizer", cognito_user_pools=[user_pool]
        )
        keyed = {
            "api_key_required": True,
            "authorizer": authorizer,
            "authorization_type": apigw.AuthorizationType.COGNITO,
        }
    open_route: dict[str, Any] = {"api_key_required": False}
    validator = rest_api.add_request_validator(
        "BodyValidator", validate_request_body=True, validate_request_parameters=False
    )
    models = {
        path: apigw.CfnModel(
            scope,
            f"{name}Model",
            rest_api_id=rest_api.rest_api_id,
            name=name,
            content_type="application/json",
            description=f"the JSON body of POST {path}, from darkroom's OpenAPI document",
            schema=schema,  # raw JSON Schema draft 4: the L2 Model wants it field by field
        )
        for (path, schema), name in zip(
            request_models().items(), ("UploadJson", "PresignRequest"), strict=True
        )
    }
    root = rest_api.root
    root.add_method("ANY", integration, **keyed)
    root.add_proxy(
        default_integration=integration,
        default_method_options=apigw.MethodOptions(**keyed),
        any_method=True,
    )
    upload = root.add_resource("upload")
    for resource, path in (
        (upload, "/upload"),
        (upload.add_resource("presign"), "/upload/presign"),
    ):
        cfn_model = models[path]
        model = apigw.Model.from_model_name(scope, f"{cfn_model.name}Ref", cfn_model.ref)
        method = resource.add_method(
            "POST",
            integration,
            **keyed,
            request_validator=validator,
            request_models={"application/json": model},
        )
        method.node.add_dependency(cfn_model)
    # A presigned upload URL is its own credential (an HMAC-signed grant): no key, no user.
    presigned = upload.add_resource("presigned").add_resource("{token}")
    presigned.add_method("PUT", integration, **open_route)
    for path in ("health", "docs", "redoc", "openapi.json"):
        open_resource = root.add_resource(path)
        open_resource.add_method("GET", integration, **open_route)
        if path == "docs":  # the docs pages' own scripts and styles (routes/docs.py)
            assets = open_resource.add_resource("assets").add_resource("{name}")
            assets.add_method("GET", integration, **open_route)
    plans = {}
    for name, plan in DEFAULT_PLANS.items():
        plans[name] = rest_api.add_usage_plan(
            f"{name.title()}Plan",
            name=f"{options.name}-{name}",
            description=f"darkroom plan {name!r} (darkroom.settings.DEFAULT_PLANS)",
            throttle=throttle_for(plan),
            quota=quota_for(plan),
            api_stages=[apigw.UsagePlanPerApiStage(api=rest_api, stage=rest_api.deployment_stage)],
        )
    return Api(rest_api, plans, user_pool)
