import pytest


@pytest.fixture
def fast_retries(settings):
    """One retry, no backoff: batch tests that meet an unreachable server finish at once."""
    settings.RADREVIEW_LLM = {**settings.RADREVIEW_LLM, "RETRIES": 1, "RETRY_BACKOFF": 0.0}
