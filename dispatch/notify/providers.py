"""The SMS provider the settings name, or None where SMS is off."""

from __future__ import annotations

from config.settings import Settings
from dispatch.notify.aliyun import AliyunSms
from dispatch.notify.sms import SmsSender


def sms_sender(settings: Settings) -> SmsSender | None:
    if settings.sms_provider == "aliyun":
        return AliyunSms(
            endpoint=settings.sms_aliyun_endpoint,
            access_key_id=settings.sms_aliyun_access_key_id,
            access_key_secret=settings.sms_aliyun_access_key_secret,
            sign_name=settings.sms_aliyun_sign_name,
        )
    return None
