"""checkov (Bridgecrew's scanner, no one here wrote it) over the synthesized templates of every
stage and the all-options variant: no failed check outside the skip list below, each skip with
its reason. checkov pins packages darkroom's environment cannot share (boto3, packaging), so it
runs from its own venv: `.ci/run` makes one and sets DARKROOM_CHECKOV to its executable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.test_deploy import Synthesized, any_template, synthesized  # noqa: F401 (fixtures)

# Checks darkroom does not meet on purpose, and why (docs/deploy-aws.md says the same).
SKIPPED = {
    # The CDK's own deploy-time handlers (bucket notifications, the events log group's policy)
    # fail the Lambda checks below too: their functions are not ours to configure.
    "CKV_AWS_116": "Lambda DLQ: the SQS event source has the queue's redrive to its DLQ; the API "
    "and keys functions are synchronous (errors go to the caller)",
    "CKV_AWS_117": "the api function outside a VPC: with database=external there is no VPC to "
    "put it in",
    "CKV_AWS_173": "Lambda environment encryption with a customer key: it holds no secret "
    "(ARNs only; values are read from Secrets Manager at run time)",
    "CKV_AWS_115": "reserved concurrency on the api and keys functions: usage plans and stage "
    "throttling bound the API; a reservation would take from the account's pool",
    "CKV_AWS_158": "CloudWatch log groups with a customer KMS key: the service default "
    "encryption; a key costs $1/month and grants per log group",
    "CKV_AWS_18": "access logging on the access-log bucket itself (it is the log bucket)",
    "CKV_AWS_21": "versioning in dev and staging (disposable); prod's data bucket is versioned",
    "CKV_AWS_120": "API Gateway caching: responses are per key and owner, not cacheable",
    "CKV_AWS_149": "Secrets Manager with a customer KMS key: the AWS managed key is used",
    "CKV_AWS_27": "SQS with a customer KMS key: SQS-managed SSE, so S3 can send without a key grant",
    "CKV_AWS_26": "SNS with a customer KMS key: CloudWatch alarms cannot publish to the AWS "
    "managed key",
    "CKV_AWS_119": "DynamoDB with a customer KMS key: the AWS managed key is used",
    "CKV_AWS_59": "API methods without authorization: /health, /docs, /openapi.json and the "
    "presigned PUT are open on purpose; the rest require an API key",
    "CKV_AWS_118": "RDS enhanced monitoring: Performance Insights-class detail is not needed by "
    "default and bills per instance; CloudWatch's Aurora metrics remain",
    "CKV_AWS_162": "RDS IAM authentication: password from the rotated secret (nag.py, RDS6)",
    "CKV_AWS_111": "IAM write without constraints: the resource-less actions (X-Ray, Lambda's "
    "network interfaces, logs delivery) have no resource to constrain",
}


def checkov() -> str | None:
    return os.environ.get("DARKROOM_CHECKOV") or shutil.which("checkov")


@pytest.mark.slow
@pytest.mark.skipif(checkov() is None, reason="checkov is not installed (.ci/run makes its venv)")
def test_checkov_finds_nothing_outside_the_skip_list(any_template: Synthesized) -> None:  # noqa: F811
    binary = checkov()
    assert binary is not None
    result = subprocess.run(
        [
            binary,
            "--framework",
            "cloudformation",
            "--file",
            str(any_template.path),
            "--skip-check",
            ",".join(sorted(SKIPPED)),
            "--output",
            "json",
            "--compact",
            "--quiet",
            "--skip-download",  # no Prisma Cloud guidelines: the machine has no network
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for one in reports
        for check in one.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], result.stderr[-2000:]
