"""The embedded default: a laptop with no servers. Used by README's run command."""

import os

os.environ.setdefault("SECRET_KEY", "dev-only-insecure-key-change-me")
os.environ.setdefault("DEBUG", "true")

from radreview.settings.base import *
