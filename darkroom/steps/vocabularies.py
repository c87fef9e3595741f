"""Loading a vocabulary: the one shipped with the catalog recipe, or a user's own file.

Loaded once per process and path (a changed file is read again), so the many jobs of a worker
share one parse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import yaml

from darkroom.domain.vocabulary import Vocabulary, VocabularyError, parse_vocabulary

BUNDLED = "clothing"  # darkroom/recipes/vocabularies/clothing.yaml
_cache: dict[tuple[str, float], Vocabulary] = {}
_lock = threading.Lock()


def load(path: str | None) -> Vocabulary:
    """The vocabulary at `path` (a file, ~ expanded), or the bundled one for None/'clothing'."""
    if path is None or path == BUNDLED:
        source = resources.files("darkroom.recipes").joinpath("vocabularies", f"{BUNDLED}.yaml")
        key = (f"built-in {BUNDLED}", 0.0)
        return _parsed(key, lambda: source.read_text("utf-8"))
    file = Path(path).expanduser()
    try:
        stamp = file.stat().st_mtime
    except OSError as exc:
        raise VocabularyError(path, [f"cannot read it: {exc.strerror or exc}"]) from None
    return _parsed((str(file.resolve()), stamp), lambda: file.read_text("utf-8"))


def _parsed(key: tuple[str, float], read: Callable[[], str]) -> Vocabulary:
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    origin = key[0]
    try:
        data = yaml.safe_load(read())
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabularyError(origin, [f"cannot read it: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise VocabularyError(origin, [f"not valid YAML: {exc}"]) from None
    vocabulary = parse_vocabulary(data, origin=origin)
    with _lock:
        _cache[key] = vocabulary
    return vocabulary
