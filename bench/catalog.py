"""8. The `catalog` recipe (standardise, garments offline, colours, embed, index, event) on
garment photos, two workers, against the typical hand-written processor on the same files in
the same run: Pillow resize to 1024, scikit-learn KMeans (k=5) on the full image, a JSON file.

Besides speed, the top colour each names is checked against the garment's known colour: the
hand-written one clusters the backdrop with the garment."""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from bench.common import Row, photo_jpeg
from darkroom.cli.ingest import run_ingest
from darkroom.colours import nearest_name, to_lab
from darkroom.settings import Settings
from darkroom.wiring import build

WORKERS = 2
COLOURS = {
    "red": (196, 30, 40),
    "blue": (40, 90, 190),
    "green": (50, 135, 60),
    "yellow": (240, 210, 50),
}
SHIRT = [
    (0.30, 0.15), (0.42, 0.10), (0.58, 0.10), (0.70, 0.15), (0.88, 0.32), (0.78, 0.42),
    (0.70, 0.36), (0.70, 0.90), (0.30, 0.90), (0.30, 0.36), (0.22, 0.42), (0.12, 0.32),
]  # fmt: skip


def write_garments(folder: Path, count: int, megapixels: float) -> dict[Path, str]:
    """Shirts in known colours, half on a plain backdrop, half on a busy photo-like one."""
    folder.mkdir(parents=True, exist_ok=True)
    width = int((megapixels * 1_000_000 * 3 / 2) ** 0.5)
    height = width * 2 // 3
    busy = Image.open(io.BytesIO(photo_jpeg(megapixels, seed=3))).convert("RGB")
    busy = busy.resize((width, height))
    names = list(COLOURS)
    made = {}
    for n in range(count):
        name = names[n % len(names)]
        picture = busy.copy() if n % 2 else Image.new("RGB", (width, height), (245, 244, 240))
        outline = [(x * width, y * height) for x, y in SHIRT]
        ImageDraw.Draw(picture).polygon(outline, fill=COLOURS[name])
        picture.paste((n * 7 % 256, 0, 0), (0, 0, 8, 8))  # each file distinct
        path = folder / f"garment-{n:03}-{name}.jpg"
        picture.save(path, format="JPEG", quality=90)
        made[path] = name
    return made


def processor(job: tuple[str, str]) -> str:
    """The typical hand-written processor: resize, KMeans over every pixel, a JSON file."""
    from sklearn.cluster import KMeans

    source, out = job
    img = ImageOps.exif_transpose(Image.open(source)).convert("RGB")
    pixels = np.asarray(img, dtype=np.float32).reshape(-1, 3)
    small = img.copy()
    small.thumbnail((1024, 1024))
    small.save(Path(out) / (Path(source).stem + ".jpg"), quality=88)
    model = KMeans(n_clusters=5, n_init=1, random_state=0).fit(pixels)
    counts = np.bincount(model.labels_, minlength=5)
    order = np.argsort(-counts)
    colours = [
        {
            "rgb": [int(v) for v in model.cluster_centers_[i]],
            "share": float(counts[i] / len(pixels)),
        }
        for i in order
    ]
    record = {"file": source, "width": small.width, "height": small.height, "colours": colours}
    (Path(out) / (Path(source).stem + ".json")).write_text(json.dumps(record))
    top = np.clip(np.array(colours[0]["rgb"]), 0, 255).astype(np.uint8)
    return nearest_name(to_lab(top))


def processor_images_per_second(files: dict[Path, str], out: Path) -> tuple[float, int]:
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(path), str(out)) for path in files]
    with mp.get_context("spawn").Pool(WORKERS) as pool:
        pool.map(processor, jobs[:1])  # warm the processes, as darkroom's are warmed below
        started = time.perf_counter()
        named = pool.map(processor, jobs, chunksize=1)
        rate = len(jobs) / (time.perf_counter() - started)
    return rate, sum(name == files[path] for name, path in zip(named, files, strict=True))


def darkroom_images_per_second(files: dict[Path, str], home: Path) -> tuple[float, int]:
    runtime = build(Settings(home=home, log_level="WARNING"))
    try:
        folder = next(iter(files)).parent
        report = run_ingest(
            runtime, [folder], recipe="catalog", owner="bench", concurrency=WORKERS,
            show_progress=False,
        )  # fmt: skip
        done = [image for image in report.images.values() if image.status.value == "completed"]
        assert len(done) == len(files), f"only {len(done)} of {len(files)} completed"
        outputs = runtime.catalog.steps_outputs([image.job_id or "" for image in done])
        right = 0
        for path, image in report.images.items():
            colours = outputs[image.job_id or ""]["colours"]["colours"]
            right += colours[0]["name"] == files[path]
        return len(files) / report.seconds, right
    finally:
        runtime.close()


def run(quick: bool) -> list[Row]:
    count, megapixels = (4, 1.0) if quick else (16, 6.0)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_garments(Path(tmp) / "clothes", count, megapixels)
        ours, our_right = darkroom_images_per_second(files, Path(tmp) / "darkroom")
        theirs, their_right = processor_images_per_second(files, Path(tmp) / "processor")
    return [
        Row(
            "catalog",
            f"catalog recipe, {count} x {megapixels:g} MP garments, {WORKERS} workers",
            "img/s",
            ours,
            baseline=theirs,
            baseline_name="Pillow resize + sklearn KMeans on the full image + JSON, 2 processes",
            target=">= 1x processor; top colour right on every garment",
            met=ours >= theirs and our_right == count,
            notes=(
                f"top colour right: darkroom {our_right}/{count}, processor {their_right}/{count} "
                "(half on busy backdrops); darkroom also stores thumbnails, embeds, indexes, "
                "announces; wall time includes start-up"
            ),
            extra={"darkroom_right": our_right, "processor_right": their_right},
        )
    ]
