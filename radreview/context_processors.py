from django.http import HttpRequest

from radreview.roles import user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    return {"user_roles": user_roles(user) if user is not None else []}
