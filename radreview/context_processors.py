from functools import partial

from django.http import HttpRequest

from radreview.navigation import nav_items
from radreview.roles import user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    return {"user_roles": user_roles(user) if user is not None else []}


def navigation(request: HttpRequest) -> dict[str, object]:
    """The role's navigation bar (radreview.navigation), for templates/base.html. Lazy
    (a template calls it): the htmx fragments that never show the bar never build it."""
    user = getattr(request, "user", None)
    if user is None:
        return {"nav_items": list}
    return {"nav_items": partial(nav_items, user, request.path)}
