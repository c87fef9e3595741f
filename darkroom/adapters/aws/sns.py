"""Notifier on SNS (sns://TOPIC_ARN): a person's e-mail or a chat hook subscribes to the topic."""

from __future__ import annotations

import json
from typing import Any

from darkroom.adapters.aws.clients import client

SUBJECT_LIMIT = 100  # SNS's limit, for e-mail subscriptions


class SnsNotifier:
    def __init__(self, topic_arn: str) -> None:
        if not topic_arn.startswith("arn:"):
            raise ValueError(f"not an SNS topic ARN: {topic_arn!r} (use sns://arn:aws:sns:...)")
        self.topic_arn = topic_arn
        self.sns = client("sns")

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=_subject(subject),
            Message=json.dumps(message, default=str),
        )


def _subject(subject: str) -> str:
    # Printable ASCII on one line, as SNS requires of subjects.
    flat = "".join(c if 32 <= ord(c) < 127 else " " for c in subject).strip() or "darkroom"
    return flat[:SUBJECT_LIMIT]
