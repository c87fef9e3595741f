"""The engine: loads recipes, runs a job's steps with retries, keeps results, emits events."""
