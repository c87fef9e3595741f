"""Adapters for one machine: files, an in-process event bus, log and webhook notifications."""
