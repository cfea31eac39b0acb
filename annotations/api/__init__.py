"""REST API of the annotation workspace, one module per area.

Everything the screens do is here too, with the same services and the same
permission checks (DRF answers 401/403, never a redirect). Shared helpers
(permission factory, service-error translation, serialisers of rows) live in
`common`; URL routes are in `annotations/api_urls.py`.
"""
