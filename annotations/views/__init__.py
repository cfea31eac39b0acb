"""Views of the annotations app, one module per screen family (imports, ...)."""
