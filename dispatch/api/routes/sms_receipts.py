"""Where the SMS provider pushes what happened after it took a message: Aliyun's
delivery reports (SmsReport) and the contacts' replies (SmsUp), each an HTTP POST
of a JSON array (docs/contacts.md, "Delivery reports and replies").

Aliyun signs neither push, so the receiving address the bureau configures in the
provider's console carries a secret, ``?token=<CAREBELL_SMS_RECEIPT_TOKEN>``;
without that setting the addresses do not exist (404). The answer is the one the
provider wants, ``{"code": 0, ...}``; anything but a 200 makes it push again.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from dispatch.api.deps import DatabaseDep, PublishDep, SettingsDep
from dispatch.notify import receipts

router = APIRouter(prefix="/api/v1/sms/aliyun", tags=["notifications"])
Phone = Field(min_length=5, max_length=20)


class AliyunReport(BaseModel):
    """One SmsReport item; Aliyun's further fields (send_time, sms_size ...) are kept
    out of the way rather than refused."""

    model_config = ConfigDict(extra="ignore")
    phone_number: str = Phone
    success: bool
    biz_id: str = Field(min_length=1, max_length=64)
    err_code: str = Field(default="", max_length=64)
    err_msg: str = Field(default="", max_length=200)


class AliyunUp(BaseModel):
    """One SmsUp item: a text sent to the centre's number."""

    model_config = ConfigDict(extra="ignore")
    phone_number: str = Phone
    content: str = Field(max_length=500)


def _check(settings_token: str, token: str) -> None:
    if not settings_token:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no SMS receipts are taken here")
    if not hmac.compare_digest(settings_token.encode(), token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong token")


@router.post("/report")
async def aliyun_report(
    db: DatabaseDep,
    settings: SettingsDep,
    publish: PublishDep,
    body: Annotated[list[AliyunReport], Body(max_length=1000)],
    token: str = Query(default="", max_length=200),
) -> dict[str, Any]:
    """Delivery reports: a ``sent`` notification becomes ``delivered`` or ``failed``.
    A report about a message still being stored is a 503, so the provider pushes
    the batch again (what was applied is not applied twice)."""
    _check(settings.sms_receipt_token, token)
    reports = [
        receipts.DeliveryReport(r.biz_id, r.phone_number, r.success, r.err_code, r.err_msg)
        for r in body
    ]
    came = await db.run(receipts.record_reports, db, reports, datetime.now(UTC))
    if came[receipts.Applied.APPLIED]:
        await publish()
    if came[receipts.Applied.PENDING]:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "not ready: push it again")
    return {"code": 0, "msg": "接收成功", "applied": came[receipts.Applied.APPLIED]}


@router.post("/up")
async def aliyun_up(
    db: DatabaseDep,
    settings: SettingsDep,
    publish: PublishDep,
    body: Annotated[list[AliyunUp], Body(max_length=1000)],
    token: str = Query(default="", max_length=200),
) -> dict[str, Any]:
    """Replies: "1"/是 to the cascade's question is a yes, "2"/否 a no."""
    _check(settings.sms_receipt_token, token)
    replies = [receipts.Reply(r.phone_number, r.content) for r in body]
    applied = await db.run(receipts.record_replies, db, replies, datetime.now(UTC))
    if applied:
        await publish()
    return {"code": 0, "msg": "接收成功", "applied": applied}
