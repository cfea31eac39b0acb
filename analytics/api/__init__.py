"""REST API of the analytics app, one module per area (routes: analytics/api_urls.py)."""
