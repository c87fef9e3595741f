"""Providers by name, built on first use and kept for the life of the process."""

from __future__ import annotations

import importlib
import importlib.util
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from darkroom.ports import Analyzer, Detector, Embedder, Stylist, TextReader
from darkroom.providers.batching import batched
from darkroom.settings import Settings

DetectorFactory = Callable[[dict[str, Any]], Detector]
EmbedderFactory = Callable[[dict[str, Any]], Embedder]
AnalyzerFactory = Callable[[dict[str, Any]], Analyzer]
StylistFactory = Callable[[dict[str, Any]], Stylist]
ReaderFactory = Callable[[dict[str, Any]], TextReader]


def _opencv(options: dict[str, Any]) -> Detector:
    from darkroom.providers.opencv import HaarDetector, HaarOptions

    return HaarDetector(HaarOptions.from_dict(options))


def _imported(name: str) -> Callable[[dict[str, Any]], Any] | None:
    """Your own provider as 'package.module:factory', a callable (options) -> provider."""
    if ":" not in name:
        return None
    module_name, _, attribute = name.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(factory):
        raise LookupError(f"provider {name!r}: {attribute!r} is not callable")
    return factory  # type: ignore[no-any-return]


def _onnx(options: dict[str, Any]) -> Detector:
    from darkroom.providers.onnx_classifier import OnnxClassifier

    return OnnxClassifier(options)


def _mobilenet(options: dict[str, Any]) -> Detector:
    from darkroom.providers.bundled import BundledClassifier

    return BundledClassifier(options)


def _blazeface(options: dict[str, Any]) -> Detector:
    from darkroom.providers.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(options)


def _rekognition(options: dict[str, Any]) -> Detector:
    from darkroom.providers.rekognition import RekognitionDetector

    return RekognitionDetector(options)


def _clip_detector(options: dict[str, Any]) -> Detector:
    from darkroom.providers.clip import ClipZeroShot

    return ClipZeroShot(options)


def _clip_embedder(options: dict[str, Any]) -> Embedder:
    from darkroom.providers.clip import ClipEmbedder

    return ClipEmbedder(options)


def _descriptor(options: dict[str, Any]) -> Embedder:
    from darkroom.providers.descriptor import ColourTextureEmbedder

    return ColourTextureEmbedder(options)


def _http_embeddings(options: dict[str, Any]) -> Embedder:
    from darkroom.providers.http_embeddings import HttpEmbedder

    return HttpEmbedder(options)


def _llm(options: dict[str, Any]) -> Analyzer:
    from darkroom.providers.llm import LlmAnalyzer

    return LlmAnalyzer(options)


def _rekognition_faces(options: dict[str, Any]) -> Detector:
    from darkroom.providers.rekognition_faces import RekognitionFaceDetector

    return RekognitionFaceDetector(options)


def _blend(options: dict[str, Any]) -> Stylist:
    from darkroom.providers.blend import BlendStylist

    return BlendStylist(options)


def _endpoint(options: dict[str, Any]) -> Stylist:
    from darkroom.providers.model_endpoint import HttpEndpointStylist

    return HttpEndpointStylist(options)


def _sagemaker(options: dict[str, Any]) -> Stylist:
    from darkroom.providers.model_endpoint import SageMakerStylist

    return SageMakerStylist(options)


def _rapidocr(options: dict[str, Any]) -> TextReader:
    from darkroom.providers.rapid_ocr import RapidOcrReader

    return RapidOcrReader(options)


DETECTORS: dict[str, DetectorFactory] = {
    "mobilenet": _mobilenet,
    "blazeface": _blazeface,
    "opencv": _opencv,
    "onnx": _onnx,
    "rekognition": _rekognition,
    "clip": _clip_detector,
    "rekognition-faces": _rekognition_faces,
}
EMBEDDERS: dict[str, EmbedderFactory] = {
    "descriptor": _descriptor,
    "clip": _clip_embedder,
    "http": _http_embeddings,
}
ANALYZERS: dict[str, AnalyzerFactory] = {"llm": _llm}
READERS: dict[str, ReaderFactory] = {"rapidocr": _rapidocr}


def _auto_stylist(options: dict[str, Any]) -> Stylist:
    """The model endpoint the settings name (SageMaker by name, else an HTTP URL), else the
    offline blend: one recipe for a laptop and for AWS. Options are given per provider."""
    from darkroom.settings import PortraitSettings

    unknown = set(options) - {"blend", "endpoint"}
    if unknown:
        raise ValueError(f"auto stylist: unknown options {sorted(unknown)}; known: blend, endpoint")
    configured = PortraitSettings()
    if configured.endpoint_name:
        return _sagemaker(dict(options.get("endpoint", {})))
    if configured.endpoint_url:
        return _endpoint(dict(options.get("endpoint", {})))
    return _blend(dict(options.get("blend", {})))


STYLISTS: dict[str, StylistFactory] = {
    "auto": _auto_stylist,
    "blend": _blend,
    "endpoint": _endpoint,
    "sagemaker": _sagemaker,
}


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    kind: str  # detector | embedder
    needs: tuple[str, ...]  # modules that must import
    extra: str  # pip extra that brings them
    description: str


KNOWN = (
    ProviderInfo(
        "mobilenet",
        "detector",
        ("onnxruntime",),
        "",
        "MobileNetV2 (ImageNet-1k) inside darkroom: cats, dogs, 1000 named classes (offline)",
    ),
    ProviderInfo(
        "blazeface",
        "detector",
        ("onnxruntime",),
        "",
        "MediaPipe BlazeFace (full range) inside darkroom: face boxes with scores (offline)",
    ),
    ProviderInfo(
        "opencv",
        "detector",
        ("cv2",),
        "",
        "legacy: Haar cascades shipped in OpenCV 4.x, cat and human faces (offline, weak)",
    ),
    ProviderInfo(
        "onnx",
        "detector",
        ("onnxruntime",),
        "onnx",
        "any ImageNet-style ONNX classifier, class groups to labels",
    ),
    ProviderInfo("rekognition", "detector", ("boto3",), "aws", "Amazon Rekognition DetectLabels"),
    ProviderInfo(
        "rekognition-faces", "detector", ("boto3",), "aws", "Amazon Rekognition DetectFaces"
    ),
    ProviderInfo(
        "blend",
        "stylist",
        ("cv2",),
        "",
        "portraits offline: the face blended into a style template (classic, not generative)",
    ),
    ProviderInfo(
        "endpoint",
        "stylist",
        ("httpx",),
        "",
        "portraits: a model endpoint speaking the SageMaker contract over HTTP",
    ),
    ProviderInfo(
        "sagemaker", "stylist", ("boto3",), "aws", "portraits: SageMaker InvokeEndpoint by name"
    ),
    ProviderInfo(
        "descriptor",
        "embedder",
        ("cv2",),
        "",
        "colour and texture descriptor for look-alike search (offline)",
    ),
    ProviderInfo(
        "clip",
        "detector, embedder",
        ("onnxruntime", "tokenizers"),
        "onnx",
        "CLIP (ONNX): zero-shot labels, picture and text embeddings in one space",
    ),
    ProviderInfo(
        "rapidocr",
        "reader",
        ("rapidocr", "onnxruntime"),
        "",
        "RapidOCR: PP-OCR text detection and recognition, models inside its wheel (offline)",
    ),
    ProviderInfo(
        "llm",
        "analyzer",
        ("httpx", "jsonschema"),
        "",
        "vision LLM (OpenAI-compatible or Anthropic) answering JSON held to a schema",
    ),
    ProviderInfo(
        "http",
        "embedder",
        ("httpx",),
        "",
        "Voyage or OpenAI-compatible text embeddings of the analyses (meaning search)",
    ),
)


def readiness(settings: Settings | None = None) -> dict[str, str]:
    """Each known provider: 'ready', or what is missing; given the settings, each model of the
    catalog too ('model:NAME': installed or not). Loads no model."""
    states: dict[str, str] = {}
    for info in KNOWN:
        missing = [module for module in info.needs if importlib.util.find_spec(module) is None]
        if missing:
            hint = f' (pip install "darkroom[{info.extra}]")' if info.extra else ""
            states[info.name] = f"missing {', '.join(missing)}{hint}"
        elif info.name == "opencv" and not _cascades_present():
            states[info.name] = "OpenCV has no bundled Haar cascades (OpenCV 5?): pin opencv<5"
        elif info.name in KEYED and not any(_key_set(service) for service in KEYED[info.name]):
            names = " or ".join(
                f"DARKROOM_{service.upper()}_API_KEY" for service in KEYED[info.name]
            )
            states[info.name] = f"no API key (set {names})"
        else:
            states[info.name] = "ready"
    if settings is not None:
        from darkroom.providers.model_catalog import catalog, installed_state

        for model in catalog(settings.models_catalog).values():
            states[f"model:{model.name}"] = installed_state(model, settings.models_dir)
    return states


def _cascades_present() -> bool:
    import os

    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    return bool(folder) and os.path.isfile(os.path.join(folder, DEFAULT_CASCADE))


DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"

# Providers that call a service, and the services whose key lets them.
KEYED = {"llm": ("openai", "anthropic"), "http": ("voyage", "openai")}


def _key_set(service: str) -> bool:
    from darkroom.settings import ApiKeys

    return getattr(ApiKeys(), service) is not None


class ProviderRegistry:
    def __init__(self, batch_across_threads: bool = False) -> None:
        """`batch_across_threads`: jobs running in several threads of this process share model
        calls (providers/batching.py); a worker with one job thread has nothing to share."""
        self.batch_across_threads = batch_across_threads
        self._lock = threading.Lock()  # two job threads must not load one model twice
        self.factories: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
            "detector": dict(DETECTORS),
            "embedding": dict(EMBEDDERS),
            "analyzer": dict(ANALYZERS),
            "stylist": dict(STYLISTS),
            "reader": dict(READERS),
        }
        self._built: dict[tuple[str, str], Any] = {}

    def detector(self, name: str, options: dict[str, Any]) -> Detector:
        return self._provider("detector", name, options)  # type: ignore[no-any-return]

    def embedder(self, name: str, options: dict[str, Any]) -> Embedder:
        return self._provider("embedding", name, options)  # type: ignore[no-any-return]

    def analyzer(self, name: str, options: dict[str, Any]) -> Analyzer:
        return self._provider("analyzer", name, options)  # type: ignore[no-any-return]

    def stylist(self, name: str, options: dict[str, Any]) -> Stylist:
        return self._provider("stylist", name, options)  # type: ignore[no-any-return]

    def reader(self, name: str, options: dict[str, Any]) -> TextReader:
        return self._provider("reader", name, options)  # type: ignore[no-any-return]

    def _provider(self, kind: str, name: str, options: dict[str, Any]) -> Any:
        """Built once per (kind, name, options) and kept: a model loads once per process."""
        key = (kind, name + json.dumps(options, sort_keys=True, default=str))
        with self._lock:
            if key not in self._built:
                known = self.factories[kind]
                factory = known.get(name) or _imported(name)
                if factory is None:
                    available = ", ".join(sorted(known))
                    raise LookupError(f"unknown {kind} provider {name!r}; available: {available}")
                provider = factory(options)
                if self.batch_across_threads:
                    provider = batched(kind, provider)
                self._built[key] = provider
            return self._built[key]
