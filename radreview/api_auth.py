"""API tokens: a user obtains their own with username and password; an admin
issues (or replaces) one for any active user, e.g. for a script or another system.

Obtaining a token is throttled per address (the "auth_token" rate) and goes through
the same lockout as the login page (django-axes): a locked-out username or address
gets 429 and the right password is refused until an admin unlocks it or the lock
ends. One token per user (DRF's authtoken model). Issuing replaces the old key, so an
admin can also revoke a leaked token this way. Neither key nor password is logged.
"""

from __future__ import annotations

from axes.helpers import get_lockout_message
from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

PERM_ISSUE_TOKEN = "authtoken.add_token"  # noqa: S105 (a permission name) - held by admins through "authtoken.*" (radreview/roles.py)


class TokenOut(serializers.Serializer):
    token = serializers.CharField()
    username = serializers.CharField()


class ObtainTokenApi(ObtainAuthToken):
    """POST {"username", "password"} (form or JSON): your API token, created on first use."""

    # Only the credentials authenticate here; a session must not stand in for them.
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    @extend_schema(
        request=inline_serializer(
            "TokenObtainInput", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses={200: TokenOut, 429: OpenApiResponse(description="Locked out or throttled")},
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        data = self.serializer_class(data=request.data, context={"request": request})
        if not data.is_valid():
            # Axes marks the request when this attempt hit, or met, a lockout.
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": get_lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise ValidationError(data.errors)
        user = data.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key, "username": user.get_username()})


class CanIssueTokens(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(
            request.user and request.user.is_authenticated and request.user.has_perm(PERM_ISSUE_TOKEN)
        )


class IssueTokenApi(APIView):
    """POST {"username"} (admins): a new token for that user, replacing any old one."""

    permission_classes = [CanIssueTokens]

    class Input(serializers.Serializer):
        username = serializers.CharField(max_length=150)

    @extend_schema(request=Input, responses={201: TokenOut}, tags=["auth"])
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user = (
            get_user_model().objects.filter(username=data.validated_data["username"], is_active=True).first()
        )
        if user is None:
            raise serializers.ValidationError({"username": ["No active user has this username."]})
        with transaction.atomic():
            Token.objects.filter(user=user).delete()
            token = Token.objects.create(user=user)
        return Response({"token": token.key, "username": user.get_username()}, status=status.HTTP_201_CREATED)
