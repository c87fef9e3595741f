"""The rekognition provider through boto3: against moto's server over HTTP, and against a
local server that answers Rekognition's error shapes."""

from __future__ import annotations

import numpy as np
import pytest

from darkroom.domain.errors import Rejected
from darkroom.providers.rekognition import RekognitionDetector, labels_from
from tests import images, loopback
from tests.loopback import QuietHandler

PIXELS = np.asarray(images.photo(200, 150, seed=3))


pytestmark = pytest.mark.usefixtures("aws_credentials")


def test_detect_labels_through_moto(moto_endpoint: str) -> None:
    detector = RekognitionDetector({"endpoint_url": moto_endpoint, "region": "us-east-1"})
    labels = detector.detect(PIXELS)
    assert labels, "moto answers DetectLabels with its canned labels"
    boxed = [label for label in labels if label.box is not None]
    assert boxed and all(0 <= v <= 1 for label in boxed for v in label.box)  # type: ignore[union-attr]
    assert all(label.provider.startswith("rekognition:") for label in labels)
    assert all(0 <= label.confidence <= 100 for label in labels)


def test_labels_map_instances_and_parents() -> None:
    answer = [
        {
            "Name": "Cat",
            "Confidence": 97.5,
            "Instances": [
                {
                    "Confidence": 96.0,
                    "BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4},
                },
                {
                    "Confidence": 81.0,
                    "BoundingBox": {"Left": 0.5, "Top": 0.2, "Width": 0.2, "Height": 0.3},
                },
            ],
            "Parents": [{"Name": "Pet"}, {"Name": "Animal"}],
        },
        {"Name": "Pet", "Confidence": 97.5, "Instances": [], "Parents": [{"Name": "Animal"}]},
    ]
    labels = labels_from(answer, "rekognition:3.0", parents=True)
    assert [(x.name, x.confidence, x.box) for x in labels] == [
        ("Cat", 96.0, (0.1, 0.2, 0.3, 0.4)),
        ("Cat", 81.0, (0.5, 0.2, 0.2, 0.3)),
        ("Pet", 97.5, None),
        ("Animal", 97.5, None),
    ]
    assert [x.name for x in labels_from(answer, "r", parents=False)] == ["Cat", "Cat", "Pet"]


class ErrorServer:
    """Answers every call with one Rekognition error, in the service's JSON shape."""

    def __init__(self, code: str, status: int) -> None:
        self.calls = 0
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls += 1
                error = {"__type": code, "Message": f"the service says {code}"}
                self.send_json(status, error, "application/x-amz-json-1.1")

        self.server = loopback.serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def test_unusable_pictures_are_rejected_with_the_services_reason() -> None:
    server = ErrorServer("InvalidImageFormatException", 400)
    detector = RekognitionDetector({"endpoint_url": server.url, "region": "us-east-1"})
    with pytest.raises(Rejected, match="InvalidImageFormatException: the service says"):
        detector.detect(PIXELS)
    loopback.close(server.server)


def test_throttling_raises_for_the_engine_to_retry() -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    server = ErrorServer("ThrottlingException", 400)
    client = boto3.client(
        "rekognition",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    detector = RekognitionDetector({}, client=client)
    with pytest.raises(ClientError, match="ThrottlingException"):
        detector.detect(PIXELS)
    loopback.close(server.server)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_labels"):
        RekognitionDetector({"max_labels": 0})
