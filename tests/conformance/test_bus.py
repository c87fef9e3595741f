"""The local bus and EventBridge alike: a subscriber (a webhook locally, a rule's target on AWS)
receives the same envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from darkroom.adapters.local.bus import LocalEventBus
from darkroom.domain.events import Event, make_event
from tests.conformance.conftest import unique


def events() -> list[Event]:
    return [
        make_event("classify", "ImageClassified", {"image_id": f"i{n}", "owner": "a"}, key=f"{n}")
        for n in range(13)  # more than one PutEvents batch
    ]


def local_envelopes(sent: list[Event]) -> list[dict[str, Any]]:
    bus = LocalEventBus()
    received: list[dict[str, Any]] = []
    bus.subscribe(lambda event: received.append(event.envelope()))
    bus.publish(sent)
    return received


def eventbridge_envelopes(aws: Any, sent: list[Event]) -> list[dict[str, Any]]:
    from darkroom.adapters.aws.eventbridge import EventBridgeBus

    name = unique("bus")
    client, sqs = aws.client("events"), aws.client("sqs")
    client.create_event_bus(Name=name)
    url = sqs.create_queue(QueueName=unique("events"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    client.put_rule(
        Name="all",
        EventBusName=name,
        EventPattern=json.dumps({"source": [{"prefix": "darkroom."}]}),
    )
    client.put_targets(Rule="all", EventBusName=name, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])
    EventBridgeBus(name).publish(sent)
    received: list[dict[str, Any]] = []
    while len(received) < len(sent):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = answer.get("Messages", [])
        assert messages, f"only {len(received)} of {len(sent)} events arrived"
        received += [json.loads(message["Body"]) for message in messages]
    return received


@pytest.mark.parametrize("bus", ["local", "eventbridge"])
def test_subscribers_receive_the_same_envelope(request: pytest.FixtureRequest, bus: str) -> None:
    sent = events()
    if bus == "local":
        received = local_envelopes(sent)
    else:
        received = eventbridge_envelopes(request.getfixturevalue("aws"), sent)
    by_id = {
        # EventBridge gives each event its own id; darkroom's travels in `resources`.
        (e["resources"][0].rsplit(":", 1)[-1] if "resources" in e else e["id"]): e
        for e in received
    }
    assert set(by_id) == {event.id for event in sent}
    for event in sent:
        envelope = by_id[event.id]
        expected = event.envelope()
        for field in ("source", "detail-type", "detail"):
            assert envelope[field] == expected[field]
        assert envelope["time"][:19] == expected["time"][:19]  # EventBridge keeps seconds
