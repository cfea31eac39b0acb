"""The REST API of the inference app (stage 1 here; stage 2 adds its own module)."""
