"""FastAPI dependencies of the auth service, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from parley.auth.keys import KeyStore
from parley.auth.service import AuthService
from parley.auth.sessions import Client
from parley.auth.settings import AuthSettings
from parley.common.net import client_address


def get_service(request: Request) -> AuthService:
    service = request.app.state.auth
    assert isinstance(service, AuthService)
    return service


def get_keys(request: Request) -> KeyStore:
    keys = request.app.state.keys
    assert isinstance(keys, KeyStore)
    return keys


def get_settings(request: Request) -> AuthSettings:
    settings = request.app.state.settings
    assert isinstance(settings, AuthSettings)
    return settings


def get_client(request: Request) -> Client:
    proxies = request.app.state.trusted_proxies
    return Client(client_address(request, proxies), request.headers.get("user-agent"))


AuthServiceDep = Annotated[AuthService, Depends(get_service)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
SettingsDep = Annotated[AuthSettings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
