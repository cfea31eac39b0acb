"""REST endpoints of the review app (queue, report findings, decisions, history)."""
