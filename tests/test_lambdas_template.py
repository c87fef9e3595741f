"""The Lambda handlers against moto's server, on resources built from the synthesized template
(tests/template_stack.py): its notification filters decide which objects reach the queue, its
maxReceiveCount and visibility are the queue's, each function's environment is the template's
with every reference made concrete, and the secrets it names are read from Secrets Manager at
run time. Every shipped recipe completes an image through the processor (portraits by its kiosk's
flow)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from darkroom.domain.records import ImageStatus
from darkroom.engine.recipes import RecipeBook
from darkroom.lambdas import api, runtime
from darkroom.ports import ImageQuery
from tests import faces, images
from tests.lambda_harness import Container, LambdaContext, arrivals, deliver
from tests.template_stack import TemplateStack

pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (the aws extra)")
from tests.test_deploy import synthesize
from tests.test_deploy_nag import RECIPE_CONTEXT
from tests.test_lambdas import rest_event

pytestmark = [pytest.mark.usefixtures("aws_credentials"), pytest.mark.slow]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The dev stack's template for each shipped recipe (synthesized once for the module)."""
    made = {}
    for recipe, extra in RECIPE_CONTEXT.items():
        synth = synthesize({"recipe": recipe, **extra}, tmp_path_factory.mktemp(recipe))
        made[recipe] = synth.json
    return made


@pytest.fixture
def use_env(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, lambda_container: Container
) -> Container:
    """Set a function's environment (from the template) as a Lambda container would have it."""

    def apply(env: dict[str, str]) -> None:
        runtime.reset()  # first: it puts back what the last environment's secrets replaced
        for name in ("DARKROOM_DATABASE", "DARKROOM_SECRET_KEY", "DARKROOM_OPENAI_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        lambda_container({**env, "AWS_ENDPOINT_URL": moto_endpoint})

    return apply


def sqlite_env(stack: TemplateStack, function: str, home: Path) -> dict[str, str]:
    """The template's environment, the catalog on SQLite in the test's home instead of the
    Aurora secret (the database secret's own test is below, on PostgreSQL)."""
    env = stack.environment(function, str(home))
    assert env.pop("DARKROOM_DATABASE_SECRET_ARN").startswith("arn:aws:secretsmanager:")
    return env


def assert_writes_allowed(stack: TemplateStack, function: str, before: set[str]) -> None:
    """Every object the function wrote lies under a prefix its role may put to."""
    allowed = stack.allowed_prefixes(function, "s3:PutObject")
    assert allowed, "the role allows no PutObject at all"
    written = set(stack.keys()) - before
    assert written
    for key in written:
        assert any(key.startswith(prefix) for prefix in allowed), (key, allowed)


def test_the_queue_is_the_templates(
    templates: dict[str, dict[str, Any]], moto_endpoint: str
) -> None:
    stack = TemplateStack(moto_endpoint, templates["pets"])
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == RecipeBook().get("pets").recipe.max_deliveries
    assert int(attributes["VisibilityTimeout"]) == 720  # 6 x the dev worker's 120 s
    configured = stack.s3.get_bucket_notification_configuration(Bucket=stack.bucket)
    prefixes = sorted(
        rule["Value"]
        for config in configured["QueueConfigurations"]
        for rule in config["Filter"]["Key"]["FilterRules"]
    )
    assert prefixes == ["clients/", "input/"]


def test_any_case_and_any_format_under_input_gets_a_record(
    templates: dict[str, dict[str, Any]], moto_endpoint: str, home: Path, use_env: Any
) -> None:
    """.JPG and .jpeg both arrive and are processed; a .heic darkroom cannot decode arrives too
    and is recorded as rejected with the reason, instead of lying unseen in input/."""
    stack = TemplateStack(moto_endpoint, templates["pets"])
    use_env(sqlite_env(stack, "processor", home))
    photo = images.jpeg_bytes(images.photo(160, 120, seed=3, tint=(200, 40, 40)))
    other = images.jpeg_bytes(images.photo(160, 120, seed=4, tint=(40, 40, 200)))
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200)
    for key, body in (
        ("input/alice/IMG_0001.JPG", photo),
        ("input/alice/beach.jpeg", other),
        ("input/alice/IMG_0002.HEIC", heic),
    ):
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body)
    before = set(stack.keys())
    assert deliver(stack, arrivals(stack, 3)) == {"batchItemFailures": []}
    rt = runtime.runtime()
    found = {i.filename or i.source: i for i in rt.catalog.list_images(ImageQuery(owner="alice"))}
    by_name = {name.rsplit("/", 1)[-1]: image for name, image in found.items()}
    assert set(by_name) == {"IMG_0001.JPG", "beach.jpeg", "IMG_0002.HEIC"}, list(found)
    assert by_name["IMG_0001.JPG"].status is ImageStatus.COMPLETED
    assert by_name["beach.jpeg"].status is ImageStatus.COMPLETED
    rejected = by_name["IMG_0002.HEIC"]
    assert rejected.status is ImageStatus.REJECTED and rejected.error
    assert_writes_allowed(stack, "processor", before)


@pytest.mark.parametrize("recipe", sorted(set(RECIPE_CONTEXT) - {"portraits"}))  # its own below
def test_every_shipped_recipe_completes_an_image(
    recipe: str,
    templates: dict[str, dict[str, Any]],
    moto_endpoint: str,
    home: Path,
    use_env: Any,
    model_service: Any,
) -> None:
    stack = TemplateStack(moto_endpoint, templates[recipe])
    env = sqlite_env(stack, "processor", home)
    assert env["DARKROOM_RECIPE"] == recipe
    named = json.loads(env["DARKROOM_SECRET_ARNS"])
    if recipe == "collections":
        # The operator's step after deploy: put the model service's key in its secret. The
        # processor reads it from Secrets Manager; the fake service stands in for OpenAI.
        model_service.reset()
        stack.secretsmanager.put_secret_value(
            SecretId=named["DARKROOM_OPENAI_API_KEY"], SecretString="sk-from-secrets-manager"
        )
        env["DARKROOM_LLM_BASE_URL"] = env["DARKROOM_EMBEDDINGS_BASE_URL"] = (
            f"{model_service.url}/v1"
        )
        env["DARKROOM_EMBEDDINGS_MODEL"], env["DARKROOM_EMBEDDINGS_DIM"] = "fake-embed", "256"
    else:
        assert named == {}
    use_env(env)
    picture = images.jpeg_bytes(images.photo(200, 150, seed=7, tint=(220, 30, 30)))
    # A media library's clients put their files under their product's folder.
    key = (
        "clients/alice/products/sku-1/media/image/holiday.jpg"
        if recipe == "media"
        else "input/alice/holiday.jpg"
    )
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=picture)
    before = set(stack.keys())
    assert deliver(stack, arrivals(stack, 1)) == {"batchItemFailures": []}
    rt = runtime.runtime()
    (image,) = rt.catalog.list_images(ImageQuery(owner="alice"))
    assert image.status is ImageStatus.COMPLETED, image.error
    assert_writes_allowed(stack, "processor", before)
    if recipe == "collections":
        keys_seen = {
            value
            for seen in model_service.requests
            for name, value in seen.headers.items()
            if name.lower() == "authorization"
        }
        assert keys_seen == {"Bearer sk-from-secrets-manager"}, keys_seen


def api_call(
    method: str, path: str, body: bytes, headers: dict[str, str], status: int
) -> dict[str, Any]:
    answer = api.handler(rest_event(method, path, headers=headers, body=body), LambdaContext())
    assert answer["statusCode"] == status, answer["body"]
    return dict(json.loads(answer["body"]))


def test_portraits_take_the_kiosks_selfie_and_refuse_one_without_a_visitor(
    templates: dict[str, dict[str, Any]], moto_endpoint: str, home: Path, use_env: Any
) -> None:
    """The kiosk's flow on AWS: consent, POST /portraits, the selfie PUT to the presigned URL
    it answered, the processor's portrait. A selfie dropped into input/ names no visitor: it
    ends `rejected` with the reason, and its bytes are deleted, not retried or kept."""
    stack = TemplateStack(moto_endpoint, templates["portraits"])
    use_env(sqlite_env(stack, "api", home))
    _, secret = runtime.runtime().keys.create("alice", "default")
    keyed = {"x-api-key": secret, "content-type": "application/json"}
    visitor = {"user_id": "visitor.1-é", "name": "V", "agree": True}
    api_call("POST", "/consents", json.dumps(visitor).encode(), keyed, 200)
    ask = {"user_id": "visitor.1-é", "style": "casual"}
    answer = api_call("POST", "/portraits", json.dumps(ask).encode(), keyed, 201)
    upload = answer["upload"]
    path = urlparse(upload["url"]).path
    path = path[path.index("/upload/presigned/") :]  # API Gateway strips the stage
    selfie = images.jpeg_bytes(faces.astronaut())
    api_call("PUT", path, selfie, upload["headers"], 202)
    stack.s3.put_object(Bucket=stack.bucket, Key="input/alice/dropped.jpg", Body=selfie)

    use_env(sqlite_env(stack, "processor", home))
    before = set(stack.keys())
    # the API's queued job, the stored selfie's notification (passed over), the dropped one's
    assert deliver(stack, arrivals(stack, 3)) == {"batchItemFailures": []}
    rt = runtime.runtime()
    found = {i.filename: i for i in rt.catalog.list_images(ImageQuery(owner="alice"))}
    kiosk = rt.catalog.get_image(answer["job_id"], "alice")
    assert kiosk is not None, list(found)
    assert kiosk.status is ImageStatus.COMPLETED, kiosk.error
    dropped = found["dropped.jpg"]
    assert dropped.status is ImageStatus.REJECTED
    assert "names no visitor" in (dropped.error or "")
    stored = set(stack.keys())  # the bucket's keys (TemplateStack.keys is no dict's)
    assert "input/alice/dropped.jpg" not in stored
    assert any(key.startswith("portraits/") for key in stored)
    assert_writes_allowed(stack, "processor", before)


def test_a_rotated_presign_key_is_picked_up(
    templates: dict[str, dict[str, Any]], moto_endpoint: str, home: Path, use_env: Any
) -> None:
    stack = TemplateStack(moto_endpoint, templates["pets"])
    env = sqlite_env(stack, "api", home)
    env["DARKROOM_SECRETS_MAX_AGE_SECONDS"] = "0"  # a warm container's cache has expired
    use_env(env)
    presign_arn = json.loads(env["DARKROOM_SECRET_ARNS"])["DARKROOM_SECRET_KEY"]
    first = runtime.runtime()
    original = stack.secretsmanager.get_secret_value(SecretId=presign_arn)["SecretString"]
    assert first.settings.secret_key == original
    assert runtime.runtime() is first  # unchanged secrets: the same Runtime
    stack.secretsmanager.put_secret_value(SecretId=presign_arn, SecretString="rotated-key-value")
    second = runtime.runtime()
    assert second is not first and second.settings.secret_key == "rotated-key-value"
    answer = api.handler(rest_event("GET", "/health"), LambdaContext())
    assert answer["statusCode"] == 200, answer["body"]


def test_the_database_secret_is_read_at_run_time_and_its_rotation_picked_up(
    templates: dict[str, dict[str, Any]],
    moto_endpoint: str,
    home: Path,
    use_env: Any,
    postgres_server: Any,
) -> None:
    """An RDS-style secret (username, password, host, port) on a real PostgreSQL; the password
    is changed in the database and in the secret, as Secrets Manager's rotation does."""
    from urllib.parse import urlparse

    stack = TemplateStack(moto_endpoint, templates["pets"])
    role = f"dr_{uuid.uuid4().hex[:10]}"
    # Aurora's master user is rds_superuser, which may create pgvector's extension.
    postgres_server.psql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'first-pass';")
    postgres_server.psql(f"CREATE DATABASE {role} OWNER {role};")
    uri = urlparse(str(postgres_server.get_uri(role)))
    env = stack.environment("processor", str(home))
    secret_arn = env["DARKROOM_DATABASE_SECRET_ARN"]
    # pgserver listens on a socket directory (libpq takes it as the host).
    query = dict(p.split("=", 1) for p in uri.query.split("&") if "=" in p)
    host = query.get("host") or uri.hostname or "localhost"

    def secret(password: str) -> str:
        value = {"username": role, "password": password, "host": host, "dbname": role}
        if uri.port:
            value["port"] = uri.port
        return json.dumps(value)

    stack.secretsmanager.put_secret_value(SecretId=secret_arn, SecretString=secret("first-pass"))
    env["DARKROOM_SECRETS_MAX_AGE_SECONDS"] = "0"
    use_env(env)
    rt = runtime.runtime()
    assert rt.settings.database_url.startswith(f"postgresql://{role}:first-pass@")
    rt.catalog.list_images(ImageQuery(owner="alice"))  # connects with the first password
    postgres_server.psql(f"ALTER ROLE {role} PASSWORD 'second-pass';")
    stack.secretsmanager.put_secret_value(SecretId=secret_arn, SecretString=secret("second-pass"))
    rotated = runtime.runtime()
    assert rotated is not rt
    assert rotated.settings.database_url.startswith(f"postgresql://{role}:second-pass@")
    stack.s3.put_object(
        Bucket=stack.bucket,
        Key="input/alice/after-rotation.jpg",
        Body=images.jpeg_bytes(images.photo(160, 120, seed=9, tint=(30, 30, 220))),
    )
    assert deliver(stack, arrivals(stack, 1)) == {"batchItemFailures": []}
    (image,) = rotated.catalog.list_images(ImageQuery(owner="alice"))
    assert image.status is ImageStatus.COMPLETED, image.error
