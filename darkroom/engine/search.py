"""Search: full text, "looks like" by vector, and both fused by reciprocal rank fusion.

A query with nothing relevant answers nothing: vector hits must reach the embedder's calibrated
threshold (or the caller's), and text hits must hold every word of the query.

Every score reads up to 1, on one scale per kind, so a person can read it:
- vector: cosine similarity of the embeddings (1: the same picture; a copy scores 0.9-1.0);
- text: the full-text engine's rank (BM25 on SQLite, ts_rank_cd on PostgreSQL: unbounded, and
  near 0 for words most documents hold) divided by the best hit's, so the best match of the
  query scores 1 and every hit holds every word;
- fused (words searched both ways): reciprocal rank fusion divided by its most, so 1 means
  ranked first by every kind of search that ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from darkroom import imaging
from darkroom.engine import facets as facet_rules
from darkroom.engine.facets import FacetFilters
from darkroom.ports import Embedder, FacetIndex, Providers, TextIndex, VectorHit, VectorIndex
from darkroom.settings import Limits

log = logging.getLogger("darkroom.search")

RRF_K = 60  # the constant of Cormack et al.: ranks past ~60 barely count


@dataclass(frozen=True)
class Hit:
    image_id: str
    score: float
    sources: dict[str, float] = field(default_factory=dict)  # score from each kind of search
    # For a video: the moment of its best-matching keyframe, and that keyframe's JPEG.
    frame_ms: int | None = None
    frame_key: str | None = None


def by_item(hits: list[VectorHit]) -> list[VectorHit]:
    """One hit per media item, best first: a video's keyframes (vectors whose metadata names
    the video as `media_id`) answer as the video, with the moment of the best of them."""
    best: dict[str, VectorHit] = {}
    for hit in hits:
        item = str(hit.metadata.get("media_id") or hit.image_id)
        if item not in best:
            best[item] = VectorHit(item, hit.score, hit.metadata)
    return list(best.values())


def _frame(hit: VectorHit) -> tuple[int | None, str | None]:
    ms = hit.metadata.get("frame_ms")
    key = hit.metadata.get("frame_key")
    return (int(ms) if ms is not None else None), (str(key) if key else None)


@dataclass(frozen=True)
class Faceted:
    """A faceted search's answer: the hits and, per family, value -> count."""

    hits: list[Hit]
    facets: dict[str, dict[str, int]]


def fuse(rankings: dict[str, list[VectorHit]], limit: int) -> list[Hit]:
    """Reciprocal rank fusion: each list adds 1 / (k + rank); agreement rises to the top. The sum
    is divided by its most (first in every list), so the score reads 0-1."""
    scores: dict[str, float] = {}
    sources: dict[str, dict[str, float]] = {}
    frames: dict[str, tuple[int | None, str | None]] = {}
    for name, hits in rankings.items():
        for rank, hit in enumerate(hits, start=1):
            scores[hit.image_id] = scores.get(hit.image_id, 0.0) + 1.0 / (RRF_K + rank)
            sources.setdefault(hit.image_id, {})[name] = round(hit.score, 4)
            if hit.metadata.get("frame_ms") is not None:
                frames.setdefault(hit.image_id, _frame(hit))
    most = len(rankings) / (RRF_K + 1)
    ordered = sorted(scores, key=lambda image_id: -scores[image_id])[:limit]
    return [
        Hit(
            image_id,
            round(scores[image_id] / most, 4),
            sources[image_id],
            *frames.get(image_id, (None, None)),
        )
        for image_id in ordered
    ]


def relative(hits: list[VectorHit]) -> list[VectorHit]:
    """Full-text ranks divided by the best one: 1 for the best match, the order kept. The raw
    rank is unbounded and differs between SQLite and PostgreSQL; relative, it reads the same."""
    best = max((hit.score for hit in hits), default=0.0)
    if best <= 0:
        return [VectorHit(hit.image_id, 1.0, hit.metadata) for hit in hits]  # all tie
    return [VectorHit(hit.image_id, max(hit.score, 0.0) / best, hit.metadata) for hit in hits]


class Search:
    def __init__(
        self,
        vectors: VectorIndex,
        text: TextIndex,
        providers: Providers,
        limits: Limits,
        embedder: str = "descriptor",
        embedder_options: dict[str, Any] | None = None,
        text_embedder: str | None = None,
        facets: FacetIndex | None = None,
    ) -> None:
        self.vectors = vectors
        self.text = text
        self.providers = providers
        self.limits = limits
        self.embedder_name = embedder
        self.embedder_options = embedder_options or {}
        # Words may be searched in another space than pictures: `http` embeds the analyses,
        # while "looks like" keeps the picture embedder.
        self.text_embedder_name = text_embedder
        self.facets = facets

    def embedder(self) -> Embedder:
        return self.providers.embedder(self.embedder_name, self.embedder_options)

    def words_embedder(self) -> Embedder:
        """The embedder of text queries: `text_embedder` when set (its own options from its
        settings), else the picture embedder (CLIP reads both)."""
        if self.text_embedder_name and self.text_embedder_name != self.embedder_name:
            return self.providers.embedder(self.text_embedder_name, {})
        return self.embedder()

    def threshold(self, min_score: float | None) -> float:
        return min_score if min_score is not None else self.embedder().threshold

    def text_threshold(self, embedder: Embedder, min_score: float | None) -> float:
        """Words and pictures score lower together than two pictures do (CLIP: ~0.3 for a match
        against ~0.9 for a copy), so a text-capable embedder may calibrate its own threshold."""
        if min_score is not None:
            return min_score
        return float(getattr(embedder, "text_threshold", embedder.threshold))

    def by_text(
        self,
        owner: str,
        query: str,
        limit: int = 10,
        min_score: float | None = None,
        filters: dict[str, str] | None = None,
    ) -> list[Hit]:
        rankings = {"text": relative(self.text.search(owner, query, limit * 2, filters))}
        embedder = self.words_embedder()
        try:
            vectors = embedder.embed_texts([query])
        except Exception as exc:  # a remote embedder without a key, or down: words still match
            log.warning(
                "text embedder failed; answering from full text only",
                extra={"embedder": embedder.name, "error": f"{type(exc).__name__}: {exc}"},
            )
            vectors = None
        if vectors is not None:  # a model with a text side (CLIP): text-to-image too
            rankings["vector"] = self._items(
                embedder.space,
                owner,
                vectors[0],
                limit * 2,
                self.text_threshold(embedder, min_score),
                filters,
            )
        if len(rankings) == 1:
            return [
                Hit(h.image_id, round(h.score, 4), {"text": round(h.score, 4)})
                for h in rankings["text"][:limit]
            ]
        return fuse(rankings, limit)

    def like_picture(
        self,
        owner: str,
        picture: imaging.Source,
        limit: int = 10,
        min_score: float | None = None,
        filters: dict[str, str] | None = None,
    ) -> list[Hit]:
        decoded = imaging.decode(picture, self.limits, 512)
        embedder = self.embedder()
        vector = embedder.embed_images([imaging.to_array(decoded.image)])[0]
        return self._like(embedder, owner, vector, limit, min_score, filters, exclude=None)

    def like_image(
        self,
        owner: str,
        image_id: str,
        limit: int = 10,
        min_score: float | None = None,
        filters: dict[str, str] | None = None,
    ) -> list[Hit] | None:
        """Pictures like one already indexed; None when that one has no vector (yet)."""
        embedder = self.embedder()
        vector = self.vectors.vector(embedder.space, image_id)
        if vector is None:
            return None
        return self._like(embedder, owner, vector, limit, min_score, filters, exclude=image_id)

    def _like(
        self,
        embedder: Embedder,
        owner: str,
        vector: Any,
        limit: int,
        min_score: float | None,
        filters: dict[str, str] | None,
        exclude: str | None,
    ) -> list[Hit]:
        hits = self._items(
            embedder.space, owner, vector, limit + 1, self.threshold(min_score), filters
        )
        return [
            Hit(h.image_id, round(h.score, 4), {"vector": round(h.score, 4)}, *_frame(h))
            for h in hits
            if h.image_id != exclude
        ][:limit]

    def _items(
        self,
        space: str,
        owner: str,
        vector: Any,
        limit: int,
        min_score: float,
        filters: dict[str, str] | None,
    ) -> list[VectorHit]:
        """`limit` media items (see `by_item`): a video may hold many of the nearest vectors,
        so the search widens until enough items are found or the index has no more."""
        wanted = limit * 4
        while True:
            hits = self.vectors.search(space, owner, vector, wanted, min_score, filters)
            items = by_item(hits)
            if len(items) >= limit or len(hits) < wanted or wanted >= 4096:
                return items[:limit]
            wanted *= 4

    # Faceted: the same searches over a pool of candidates, filtered by facets and counted.

    def faceted(self, owner: str, hits: list[Hit], facets: FacetFilters, limit: int) -> Faceted:
        if self.facets is None:
            return Faceted(hits[:limit] if not facets else [], {})
        ids = [hit.image_id for hit in hits]
        kept, counts = facet_rules.select(ids, self.facets.of(owner, ids), facets)
        chosen = set(kept)
        return Faceted([hit for hit in hits if hit.image_id in chosen][:limit], counts)

    def by_text_faceted(
        self,
        owner: str,
        query: str,
        facets: FacetFilters,
        limit: int = 10,
        min_score: float | None = None,
        filters: dict[str, str] | None = None,
    ) -> Faceted:
        pool = self.by_text(owner, query, facet_rules.POOL, min_score, filters)
        return self.faceted(owner, pool, facets, limit)

    def like_image_faceted(
        self,
        owner: str,
        image_id: str,
        facets: FacetFilters,
        limit: int = 10,
        min_score: float | None = None,
        filters: dict[str, str] | None = None,
    ) -> Faceted | None:
        pool = self.like_image(owner, image_id, facet_rules.POOL, min_score, filters)
        return None if pool is None else self.faceted(owner, pool, facets, limit)

    def like_picture_faceted(
        self,
        owner: str,
        picture: imaging.Source,
        facets: FacetFilters,
        limit: int = 10,
        min_score: float | None = None,
        filters: dict[str, str] | None = None,
    ) -> Faceted:
        pool = self.like_picture(owner, picture, facet_rules.POOL, min_score, filters)
        return self.faceted(owner, pool, facets, limit)
