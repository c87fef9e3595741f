"""Adapters: the ports made real for one kind of infrastructure each."""
