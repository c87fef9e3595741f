"""Duplicates in three tiers, reported apart, so a resized copy and a different photo of the same
subject are never confused:
- exact: the same bytes (SHA-256);
- near: the same picture, resized, recompressed or lightly edited (perceptual hash within
  NEAR_BITS of 64);
- semantic: a different picture that looks alike (embedding similarity at or above the
  embedder's threshold), and is in neither tier above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from darkroom.domain.records import Image
from darkroom.engine.search import Search
from darkroom.ports import Catalog

NEAR_BITS = 10  # resized and recompressed copies measured at <= 6 bits, other pictures >= 16


@dataclass
class Duplicates:
    exact: list[str] = field(default_factory=list)
    near: list[tuple[str, int]] = field(default_factory=list)  # (image id, differing bits)
    semantic: list[tuple[str, float]] = field(default_factory=list)  # (image id, similarity)


def find_duplicates(catalog: Catalog, search: Search, image: Image, limit: int = 50) -> Duplicates:
    found = Duplicates()
    others = [row for row in catalog.fingerprints(image.owner) if row[0] != image.id]
    if image.sha256:
        found.exact = sorted(image_id for image_id, sha, _ in others if sha == image.sha256)
    taken = set(found.exact)
    if image.phash:
        candidates = [
            (image_id, phash) for image_id, _, phash in others if phash and image_id not in taken
        ]
        if candidates:
            hashes = np.array([int(phash, 16) for _, phash in candidates], dtype=np.uint64)
            xor = np.bitwise_xor(hashes, np.uint64(int(image.phash, 16)))
            bits = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
            order = np.argsort(bits, kind="stable")
            found.near = [(candidates[i][0], int(bits[i])) for i in order if bits[i] <= NEAR_BITS][
                :limit
            ]
    taken |= {image_id for image_id, _ in found.near}
    hits = search.like_image(image.owner, image.id, limit=limit + len(taken))
    found.semantic = [(hit.image_id, hit.score) for hit in hits or [] if hit.image_id not in taken][
        :limit
    ]
    return found
