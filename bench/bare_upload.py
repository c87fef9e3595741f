"""The baseline server for the HTTP benchmark: a bare FastAPI endpoint that stores the file and
answers 202, with no keys, no records, no queue."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fastapi import FastAPI, UploadFile

app = FastAPI()
ROOT = Path(os.environ.get("BARE_UPLOAD_DIR", "/tmp/bare-upload"))
ROOT.mkdir(parents=True, exist_ok=True)


@app.post("/upload", status_code=202)
def upload(file: UploadFile) -> dict[str, str]:
    name = uuid.uuid4().hex
    with (ROOT / name).open("wb") as out:
        out.write(file.file.read())
    return {"image_id": name}
