"""Family accounts and the elders they are linked to: linked by an administrator,
or by a one-time invitation code the family member enters on the family page."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, delete, select

from dispatch.domain.access import Role
from dispatch.domain.family import CODE_ALPHABET, CODE_LENGTH, normalise_code, show_code
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.store.db import Database
from dispatch.store.tables import Elder, FamilyInvitation, FamilyLink, UserAccount

INVITATION_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Linked:
    """An account linked to an elder, as an administrator's list shows it."""

    username: str
    display_name: str
    elder_id: uuid.UUID
    elder_name: str
    relation: str
    linked_by: str
    linked_at: datetime


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _family_account(session: Session, username: str) -> UserAccount:
    user = session.exec(select(UserAccount).where(UserAccount.username == username)).first()
    if user is None:
        raise NotFound("user", username)
    if user.role != Role.FAMILY.value:
        raise InvalidInput([f"{username} is a {user.role} account, not a family one"])
    return user


def _elder(session: Session, elder_id: uuid.UUID) -> Elder:
    elder = session.get(Elder, elder_id)
    if elder is None or not elder.active:
        raise NotFound("elder", str(elder_id))
    return elder


def _add_link(
    session: Session, user: UserAccount, elder: Elder, relation: str, by: str, now: datetime
) -> FamilyLink:
    found = session.exec(
        select(FamilyLink).where(FamilyLink.user_id == user.id, FamilyLink.elder_id == elder.id)
    ).first()
    if found is not None:
        raise Conflict(f"{user.username} is already linked to this elder")
    link = FamilyLink(
        user_id=user.id, elder_id=elder.id, relation=relation, linked_by=by, linked_at=now
    )
    session.add(link)
    return link


def _listed(user: UserAccount, elder: Elder, link: FamilyLink) -> Linked:
    return Linked(
        user.username,
        user.display_name,
        elder.id,
        elder.name,
        link.relation,
        link.linked_by,
        link.linked_at,
    )


def link(
    db: Database, elder_id: uuid.UUID, username: str, relation: str, *, by: str, now: datetime
) -> Linked:
    """An administrator links a family account to an elder (409 if it is already)."""
    with db.session() as session:
        user, elder = _family_account(session, username), _elder(session, elder_id)
        return _listed(user, elder, _add_link(session, user, elder, relation, by, now))


def unlink(db: Database, elder_id: uuid.UUID, username: str) -> None:
    with db.session() as session:
        user = _family_account(session, username)
        gone = session.exec(
            delete(FamilyLink).where(
                col(FamilyLink.user_id) == user.id, col(FamilyLink.elder_id) == elder_id
            )
        )
        if gone.rowcount == 0:
            raise NotFound("family link", f"{username} to {elder_id}")


def links_of_elder(db: Database, elder_id: uuid.UUID) -> list[Linked]:
    with db.read() as session:
        elder = _elder(session, elder_id)
        rows = session.exec(
            select(FamilyLink, UserAccount)
            .join(UserAccount, col(UserAccount.id) == FamilyLink.user_id)
            .where(FamilyLink.elder_id == elder_id)
            .order_by(col(FamilyLink.linked_at))
        ).all()
        return [_listed(user, elder, found) for found, user in rows]


def linked_elders(db: Database, user_id: uuid.UUID) -> list[Linked]:
    """The elders a family account sees, by name."""
    with db.read() as session:
        rows = session.exec(
            select(FamilyLink, UserAccount, Elder)
            .join(UserAccount, col(UserAccount.id) == FamilyLink.user_id)
            .join(Elder, col(Elder.id) == FamilyLink.elder_id)
            .where(FamilyLink.user_id == user_id)
            .order_by(col(Elder.name))
        ).all()
        return [_listed(user, elder, found) for found, user, elder in rows]


def invite(
    db: Database, elder_id: uuid.UUID, relation: str, *, by: str, now: datetime
) -> tuple[str, datetime]:
    """A new one-time code linking whoever enters it to the elder; the code (shown
    once: only its hash is kept) and when it runs out."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = now + INVITATION_TTL
    with db.session() as session:
        _elder(session, elder_id)
        session.add(
            FamilyInvitation(
                code_hash=_digest(code),
                elder_id=elder_id,
                relation=relation,
                created_by=by,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return show_code(code), expires_at


def redeem(db: Database, user_id: uuid.UUID, typed: str, *, now: datetime) -> Linked:
    """Link the family account to the code's elder. A code works once, within its
    week; a wrong, used or expired one is refused alike (422), so a guess learns nothing."""
    refused = InvalidInput(["the invitation code is not valid (wrong, used or expired)"])
    try:
        digest = _digest(normalise_code(typed))
    except ValueError as exc:
        raise refused from exc
    with db.session() as session:
        user = session.get(UserAccount, user_id)
        if user is None or user.role != Role.FAMILY.value:
            raise InvalidInput(["only a family account takes an invitation code"])
        # Taken by a conditional update, so two people entering it at once link one.
        taken = session.execute(
            update(FamilyInvitation)
            .where(
                col(FamilyInvitation.code_hash) == digest,
                col(FamilyInvitation.used_at).is_(None),
                col(FamilyInvitation.expires_at) > now,
            )
            .values(used_by=user.username, used_at=now)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise refused
        invitation = session.get(FamilyInvitation, digest)
        assert invitation is not None
        elder = _elder(session, invitation.elder_id)
        by = f"invitation:{invitation.created_by}"
        return _listed(user, elder, _add_link(session, user, elder, invitation.relation, by, now))
