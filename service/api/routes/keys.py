"""API keys over HTTP, for admins. An admin scoped to some shops manages only keys
within those shops."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import AdminDep, ServicesDep
from service.api.schemas import ErrorBody, KeyCreate, KeyCreated, KeyOut
from service.errors import Forbidden, NotFound
from service.store.keys import Principal

router = APIRouter(tags=["access"])
ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody},
          422: {"model": ErrorBody}}


def _within(principal: Principal, shops: list[str]) -> bool:
    return principal.all_shops or ("*" not in shops and set(shops) <= principal.shops)


@router.get("/v1/keys", response_model=list[KeyOut], responses=ERRORS, summary="List API keys")
def list_keys(services: ServicesDep, principal: AdminDep) -> list[KeyOut]:
    return [KeyOut.model_validate(k) for k in services.keys.list() if _within(principal, k["shops"])]


@router.post("/v1/keys", response_model=KeyCreated, status_code=201, responses=ERRORS,
             summary="Create an API key (the secret is shown once)")
def create_key(body: KeyCreate, services: ServicesDep, principal: AdminDep) -> JSONResponse:
    if not _within(principal, body.shops):
        raise Forbidden("an admin key can only create keys for the shops it is scoped to")
    listing, secret = services.keys.create(body.name, body.roles, body.shops)
    return JSONResponse({**listing, "key": secret}, status_code=201)


@router.post("/v1/keys/{key_id}/revoke", response_model=KeyOut, responses=ERRORS, summary="Revoke an API key")
def revoke_key(key_id: str, services: ServicesDep, principal: AdminDep) -> KeyOut:
    if not _within(principal, services.keys.get(key_id)["shops"]):
        raise NotFound(f"no API key {key_id!r}")
    return KeyOut.model_validate(services.keys.revoke(key_id))
