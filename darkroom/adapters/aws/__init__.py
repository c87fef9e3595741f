"""Adapters on AWS: S3 blobs, SQS queue, EventBridge bus, SNS notifier, DynamoDB detection log.
Chosen by settings URLs in darkroom.wiring; nothing here is imported unless one is configured."""
