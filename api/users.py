"""``/v1/users``: the admin's view of who may sign in."""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.access import Role, check_scope
from api.accounts import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    USERNAME,
    add_user,
    check_reference,
    list_users,
    set_disabled,
)
from api.auth import authorize
from api.bodies import WriteBody
from api.deps import EngineDep, RulesDep
from api.errors import responses
from streams.schema import NoControl

router = APIRouter(
    prefix="/v1", tags=["users"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)


class UserIn(WriteBody):
    """A new user."""

    username: Annotated[str, Field(pattern=USERNAME)]
    password: Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
    role: Role
    scope: Annotated[
        str,
        Field(max_length=400, description="Area code, department name, building codes (comma-separated), or empty"),
        *NoControl,
    ] = ""
    display_name: Annotated[str, Field(max_length=64, description="The name people read (张三)"), *NoControl] = ""


class UserOut(BaseModel):
    """A user, without the password."""

    username: str
    role: Role
    scope: str
    disabled: bool
    display_name: str = ""


@router.get("/users", response_model=list[UserOut])
def get_users(engine: EngineDep) -> list[dict[str, Any]]:
    """Every user, by name."""
    return [u.as_json() for u in list_users(engine)]


@router.post("/users", status_code=201, response_model=UserOut, responses=responses(400, 409))
async def post_user(body: UserIn, engine: EngineDep, rules: RulesDep) -> dict[str, Any]:
    """Add a user; the scope fits the role and names what exists (an active area, a rules' unit, a special grid)."""
    scope = check_scope(body.role, body.scope)
    await run_in_threadpool(check_reference, engine, body.role, scope, set(rules.departments.values()))
    user = await run_in_threadpool(
        partial(add_user, display_name=body.display_name), engine, body.username, body.password, body.role, scope
    )
    return user.as_json()


@router.post("/users/{username}/disable", response_model=UserOut, responses=responses(404))
def disable_user(username: Annotated[str, Path(pattern=USERNAME)], engine: EngineDep) -> dict[str, Any]:
    """Disable a user: sign-in stops at once, tokens within ``GRIDGOV_USER_CACHE_S`` seconds."""
    return set_disabled(engine, username).as_json()
