"""hash: SHA-256 of the original (exact duplicates per owner) and a 64-bit perceptual hash."""

from __future__ import annotations

import hashlib

from pydantic import Field

from darkroom import imaging
from darkroom.domain.records import ImageStatus
from darkroom.steps import pixels
from darkroom.steps.base import StepContext, StepDefinition, StepResult, StepSettings


class HashSettings(StepSettings):
    deduplicate: bool = Field(default=True, description="stop identical files as 'duplicate'")


def sha256_of(ctx: StepContext) -> str:
    source = pixels.original_source(ctx)
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
    else:
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def run(ctx: StepContext, settings: HashSettings) -> StepResult:
    sha256 = ctx.image.sha256 or sha256_of(ctx)
    phash = imaging.perceptual_hash(pixels.fitted(ctx, 256))
    output: dict[str, object] = {"sha256": sha256, "phash": phash}
    updates: dict[str, object] = {"sha256": sha256, "phash": phash}
    if not settings.deduplicate:
        return StepResult(output=output, image=updates)
    holder = ctx.ports.catalog.claim_content(ctx.image.owner, sha256, ctx.image.id)
    if holder != ctx.image.id and ctx.ports.catalog.get_image(holder) is None:
        # The first was deleted meanwhile and its claim with it: this one may hold the content.
        holder = ctx.ports.catalog.claim_content(ctx.image.owner, sha256, ctx.image.id)
    if holder == ctx.image.id:
        return StepResult(output=output, image=updates)
    # The copy keeps its own bytes: it was accepted on its own, and deleting the first (even
    # while this runs) must never take them. Deleting the first promotes its oldest duplicate.
    output["duplicate_of"] = holder
    updates["duplicate_of"] = holder
    return StepResult(output=output, image=updates, finish=ImageStatus.DUPLICATE)


STEP = StepDefinition(
    name="hash",
    run=run,
    settings=HashSettings,
    event="ImageHashed",
    needs=("validate",),
    description="SHA-256 (identical files of one owner become 'duplicate') and perceptual hash",
)
