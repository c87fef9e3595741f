"""Probe a video by what its bytes are, not its name: container, streams, codec, size, rate and
duration from the headers, then the packets read (not decoded) to the end, so a truncated file
or a header that lies about its length is refused before a frame is decoded past the first."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import av
import av.error

from darkroom.domain.errors import Rejected
from darkroom.settings import Limits

log = logging.getLogger("darkroom.video")
logging.getLogger("libav").setLevel(logging.CRITICAL)  # FFmpeg's own chatter about bad input

# FFmpeg's demuxer names: MP4/MOV and Matroska/WebM; each codec where the wheel's FFmpeg has it.
CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "webm"}
CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}
EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "mkv": ".mkv"}
# The last packet may end this much before the claimed duration (encoder padding, audio tails).
_SLACK_SECONDS = 1.0
_SLACK_FRACTION = 0.05


@dataclass(frozen=True)
class VideoProbe:
    format: str  # mp4, mov, webm, mkv
    codec: str
    width: int
    height: int
    fps: float
    duration_ms: int
    frames: int  # video packets: one per frame
    audio: bool

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "video/x-matroska")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def looks_like_video(path: str) -> bool:
    """Whether FFmpeg reads the file as one of the accepted containers (cheap: headers only)."""
    try:
        with av.open(path, metadata_errors="ignore") as container:
            return container.format.name in CONTAINERS
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _format_name(container: Any) -> str:
    """mp4 or mov (by the file's brand), webm or mkv (by its codecs: WebM allows only these)."""
    if CONTAINERS[container.format.name] == "mp4":
        brand = str(container.metadata.get("major_brand", "")).strip()
        return "mov" if brand == "qt" else "mp4"
    return "webm" if _is_webm_codecs(container) else "mkv"


def _is_webm_codecs(container: Any) -> bool:
    allowed = {"vp8", "vp9", "av1", "opus", "vorbis"}
    return all(
        s.codec_context.name in allowed for s in container.streams if s.type in {"video", "audio"}
    )


def _unreadable(path: str, exc: av.error.FFmpegError) -> str:
    """The reason a file FFmpeg cannot open is refused, naming what its first bytes claim."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    detail = exc.strerror or type(exc).__name__
    if head[4:8] == b"ftyp":
        return f"truncated or corrupt MP4/MOV: its index (moov) cannot be read ({detail})"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return f"truncated or corrupt WebM/Matroska ({detail})"
    return f"not an image or a video: no accepted format reads it ({detail})"


def _claimed_seconds(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def probe(path: str, limits: Limits) -> VideoProbe:
    """Everything validation needs, or Rejected with the specific reason."""
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise Rejected(_unreadable(path, exc)) from None
    with container:
        if container.format.name not in CONTAINERS:
            raise Rejected(
                f"container {container.format.long_name or container.format.name!r} is not "
                "accepted: MP4/MOV or WebM/Matroska"
            )
        if not container.streams.video:
            kind = "audio only" if container.streams.audio else "no stream of pictures"
            raise Rejected(f"no video stream ({kind})")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in CODECS:
            raise Rejected(f"video codec {codec!r} is not accepted: H.264, H.265, VP8, VP9, AV1")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise Rejected(f"no frame size in the video's header ({width}x{height})")
        if width * height > limits.max_video_pixels:
            raise Rejected(
                f"frames too large: {width}x{height} is over {limits.max_video_pixels:,} pixels"
            )
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not 0 < fps <= limits.max_video_fps:
            raise Rejected(f"frame rate {fps:.3g} is outside 0-{limits.max_video_fps:g} fps")
        claimed = _claimed_seconds(container, stream)
        if claimed is not None and claimed > limits.max_video_seconds:
            raise Rejected(
                f"too long: {claimed:,.1f} s is over the limit of {limits.max_video_seconds:,.0f} s"
            )
        end, frames = _packets_end(container, stream)
        if frames == 0 or end is None:
            raise Rejected("no video frames in the file (truncated or empty stream)")
        if claimed is None:
            claimed = end
        if end < claimed - max(_SLACK_SECONDS, _SLACK_FRACTION * claimed):
            raise Rejected(
                f"truncated or inconsistent: the header claims {claimed:,.1f} s but the frames "
                f"end at {end:,.1f} s"
            )
        if end > limits.max_video_seconds:
            raise Rejected(
                f"too long: {end:,.1f} s is over the limit of {limits.max_video_seconds:,.0f} s"
            )
        _first_frame(container, stream)
        return VideoProbe(
            format=_format_name(container),
            codec=codec,
            width=width,
            height=height,
            fps=round(fps, 3),
            duration_ms=round(min(claimed, end) * 1000),
            frames=frames,
            audio=bool(container.streams.audio),
        )


def _packets_end(container: Any, stream: Any) -> tuple[float | None, int]:
    """Read every packet of the video stream without decoding one: how far the frames go, and
    how many there are. A file cut short, or whose header lies, ends early here."""
    end: float | None = None
    frames = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            frames += 1
            stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = stop if end is None else max(end, stop)
    except av.error.FFmpegError as exc:
        # The frames read so far still count: a cut file fails the duration check with its end.
        log.info("video demux stopped early", extra={"error": str(exc)})
    return end, frames


def _first_frame(container: Any, stream: Any) -> None:
    container.seek(0, stream=stream)
    try:
        for _ in container.decode(stream):
            return
    except av.error.FFmpegError as exc:
        raise Rejected(
            f"corrupt video: the first frame cannot be decoded ({exc.strerror})"
        ) from None
    raise Rejected("corrupt video: no frame decodes")
