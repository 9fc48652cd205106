"""Accounts, for administrators: create, list, disable, areas, password resets;
supervisors too may release a locked account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import AdminDep, DatabaseDep, LoginThrottleDep, allow
from dispatch.domain.access import Principal, Role
from dispatch.registry import accounts
from dispatch.store.tables import UserAccount

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Username = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
# An address or empty (none): the summaries e-mailed to supervisors go there.
EMAIL_PATTERN = r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Username
    role: Role
    display_name: str = Field(default="", max_length=100)
    areas: list[str] = Field(default_factory=list, max_length=100)
    caregiver_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None  # a provider's staff: whose
    locale: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    email: str = Field(default="", max_length=254, pattern=EMAIL_PATTERN)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    areas: list[str] | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    reset_password: bool = False


class UserAdmin(BaseModel):
    username: str
    display_name: str
    role: str
    areas: list[str]
    caregiver_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    locale: str
    email: str
    active: bool
    must_change_password: bool
    created_at: datetime | None
    password_changed_at: datetime | None
    locked_until: datetime | None  # wrong passwords locked it (POST …/unlock releases)

    @classmethod
    def of(cls, user: UserAccount) -> UserAdmin:
        return cls.model_validate(user, from_attributes=True)


class UserIssued(UserAdmin):
    """An account with its one-time password: shown in this answer only."""

    one_time_password: str | None = None


@router.get("", response_model=list[UserAdmin])
async def list_users(_admin: AdminDep, db: DatabaseDep) -> list[UserAdmin]:
    users = await db.run(accounts.list_users, db)
    return [UserAdmin.of(u) for u in users]


@router.post("", response_model=UserIssued, status_code=status.HTTP_201_CREATED)
async def create_user(_admin: AdminDep, db: DatabaseDep, body: UserCreate) -> UserIssued:
    """A new account with a one-time password, which its holder must change at log-in."""
    new = accounts.NewAccount(
        username=body.username,
        role=body.role,
        display_name=body.display_name,
        areas=tuple(body.areas),
        caregiver_id=body.caregiver_id,
        provider_id=body.provider_id,
        locale=body.locale,
        email=body.email,
    )
    user, password = await db.run(accounts.add_account, db, new, now=datetime.now(UTC))
    return UserIssued(**UserAdmin.of(user).model_dump(), one_time_password=password)


@router.get("/{username}", response_model=UserAdmin)
async def get_user(_admin: AdminDep, db: DatabaseDep, username: str) -> UserAdmin:
    return UserAdmin.of(await db.run(accounts.get_user, db, username))


@router.patch("/{username}", response_model=UserIssued)
async def change_user(
    admin: AdminDep, db: DatabaseDep, username: str, body: UserChange
) -> UserIssued:
    """Disable or re-enable, set areas or the name, or reset the password (the new
    one-time password is in this answer only; the account's sessions end)."""
    change = accounts.AccountChange(
        active=body.active,
        areas=None if body.areas is None else tuple(body.areas),
        display_name=body.display_name,
        email=body.email,
        reset_password=body.reset_password,
    )
    user, password = await db.run(
        accounts.change_account,
        db,
        username,
        change,
        by=admin.username,
        now=datetime.now(UTC),
    )
    return UserIssued(**UserAdmin.of(user).model_dump(), one_time_password=password)


@router.post("/{username}/unlock", response_model=UserAdmin)
async def unlock_user(
    by: Annotated[Principal, Depends(allow(Role.SUPERVISOR, Role.ADMIN))],
    db: DatabaseDep,
    throttle: LoginThrottleDep,
    username: str,
) -> UserAdmin:
    """Release an account that wrong passwords locked (supervisors and
    administrators; audited as a registry change)."""
    user = await db.run(accounts.unlock, db, username, by=by.username, now=datetime.now(UTC))
    await throttle.release(username)
    return UserAdmin.of(user)
