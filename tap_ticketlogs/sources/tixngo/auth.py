"""How the TIXNGO API key is sent: the SDK's own authenticators, chosen by ``auth_scheme``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk.authenticators import (
    APIAuthenticatorBase,
    APIKeyAuthenticator,
    BasicAuthenticator,
    BearerTokenAuthenticator,
)

from tap_ticketlogs.http.redaction import REDACTOR


def tixngo_authenticator(section: Mapping[str, Any]) -> APIAuthenticatorBase:
    """Build the authenticator for the configured scheme (validated before any request)."""
    scheme = section["auth_scheme"]
    api_key = str(section["api_key"])
    if scheme == "bearer":
        return BearerTokenAuthenticator(token=api_key)
    if scheme == "header":
        return APIKeyAuthenticator(
            key=str(section.get("auth_header") or "Authorization"), value=api_key, location="header"
        )
    email = str(section["email"])
    REDACTOR.add_basic_credentials(email, api_key)
    return BasicAuthenticator(username=email, password=api_key)
