"""notify: tell a person about uncertain results (log line always; webhooks, SNS when set)."""

from __future__ import annotations

from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings

UNCERTAIN = "ClassificationUncertain"


class NotifySettings(StepSettings):
    pass


def run(ctx: StepContext, settings: NotifySettings) -> StepResult:
    decision = ctx.output_of("classify")
    if not decision.get("uncertain"):
        return StepResult(output={"notified": False})
    message = {
        "notification_id": f"{ctx.job.id}:{ctx.step}",  # the same on a retry: receivers dedupe
        "image_id": ctx.image.id,
        "owner": ctx.image.owner,
        "class": decision.get("class"),
        "confidence": decision.get("confidence"),
        "filename": ctx.image.filename,
        "location": ctx.output_of("organize").get("location", ctx.image.location),
        "thumbnail": ctx.image.thumbnail,
    }
    ctx.ports.notifier.notify(UNCERTAIN, message)
    return StepResult(output={"notified": True}, events=[(UNCERTAIN, message)])


STEP = StepDefinition(
    name="notify",
    run=run,
    settings=NotifySettings,
    event="NotificationSent",
    needs=("classify",),
    description="send uncertain classifications to the notifier",
)
