"""consent: the visitor named by the upload still agrees, checked again when the job runs.

Intake already refused an upload without a current consent (engine/consent.py, HTTP 403, nothing
stored). This step catches a withdrawal that came between the upload and the run: the job ends
`rejected` before any face is looked for. A recipe with this step is consent-checked at intake.
"""

from __future__ import annotations

from darkroom.domain.errors import Rejected
from darkroom.domain.portraits import STYLE, USER_ID, check_user_id
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class ConsentSettings(StepSettings):
    pass


def run(ctx: StepContext, settings: ConsentSettings) -> StepResult:
    metadata = ctx.image.metadata
    try:
        user_id = check_user_id(metadata.get(USER_ID))
    except ValueError as exc:
        raise Rejected(str(exc)) from None
    if not isinstance(metadata.get(STYLE), str):
        raise Rejected("no style was asked for")
    if ctx.ports.consents is not None:
        consent = ctx.ports.consents.consent(ctx.image.owner, user_id)
        if consent is None or not consent.agreed:
            raise Rejected("the visitor has no current consent")
        return StepResult(output={"agreed_at": consent.agreed_at, "checked": True})
    return StepResult(output={"checked": False})


STEP = StepDefinition(
    name="consent",
    run=run,
    settings=ConsentSettings,
    event="ConsentChecked",
    description="the visitor's consent is current (uploads without one are refused at intake)",
)
