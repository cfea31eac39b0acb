"""Writes and long-running work of the analytics app (views and tasks call these)."""
