"""The Aliyun SMS adapter against a local stand-in that implements the provider's
documented SendSms request and answer and checks the signature itself
(simulators/sms_provider.py); no SMS leaves this machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from config.settings import Settings
from dispatch.notify.aliyun import AliyunSms, percent_encode
from dispatch.notify.providers import sms_sender
from dispatch.notify.sms import SmsFailed, SmsMessage
from simulators.sms_provider import AliyunSmsStandIn

KEY_ID, SECRET = "LTAI-carebell-test", "s3cr3t/with+odd=chars"
MESSAGE = SmsMessage(
    phone="13800138000",
    template_code="SMS_ALERT_RAISED",
    params={"elder": "王秀英", "step": "按下呼叫 08:02", "eta": "约 9 分钟"},
)


@pytest.fixture
def provider() -> Iterator[AliyunSmsStandIn]:
    with AliyunSmsStandIn({KEY_ID: SECRET}) as stand_in:
        yield stand_in


def adapter(url: str, secret: str = SECRET) -> AliyunSms:
    return AliyunSms(
        endpoint=url, access_key_id=KEY_ID, access_key_secret=secret, sign_name="东城区居家养老"
    )


def test_percent_encoding_is_the_signatures_rfc3986_form() -> None:
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"


async def test_a_signed_message_is_accepted_with_its_template_and_parameters(
    provider: AliyunSmsStandIn,
) -> None:
    receipt = await adapter(provider.url).send(MESSAGE)
    [sent] = provider.sent
    assert receipt.provider_id == sent["BizId"]
    assert sent["PhoneNumbers"] == "13800138000"
    assert sent["SignName"] == "东城区居家养老"
    assert sent["TemplateCode"] == "SMS_ALERT_RAISED"
    assert '"elder": "王秀英"' in sent["TemplateParam"]


async def test_a_wrong_secret_is_refused_by_the_signature_check(
    provider: AliyunSmsStandIn,
) -> None:
    with pytest.raises(SmsFailed) as refused:
        await adapter(provider.url, secret="not the secret").send(MESSAGE)
    assert refused.value.code == "SignatureDoesNotMatch"
    assert provider.sent == []


async def test_a_replayed_request_is_refused_for_its_used_nonce(
    provider: AliyunSmsStandIn,
) -> None:
    query = adapter(provider.url).signed_query(MESSAGE, at=datetime.now(UTC), nonce="n-1")
    async with httpx.AsyncClient() as client:
        first = (await client.get(provider.url, params=query)).json()
        again = (await client.get(provider.url, params=query)).json()
    assert first["Code"] == "OK"
    assert again["Code"] == "SignatureNonceUsed"
    assert len(provider.sent) == 1


async def test_the_providers_refusal_and_an_unreachable_provider_are_failures(
    provider: AliyunSmsStandIn,
) -> None:
    with pytest.raises(SmsFailed) as illegal:
        await adapter(provider.url).send(SmsMessage("12345", "SMS_ALERT_RAISED"))
    assert illegal.value.code == "isv.MOBILE_NUMBER_ILLEGAL"

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SmsFailed) as unreachable:
        await adapter(f"http://127.0.0.1:{port}/").send(MESSAGE)
    assert unreachable.value.code == "unreachable"
    assert provider.sent == []


async def test_settings_choose_the_provider(provider: AliyunSmsStandIn) -> None:
    assert sms_sender(Settings(sms_provider="none")) is None
    chosen = sms_sender(
        Settings(
            sms_provider="aliyun",
            sms_aliyun_endpoint=provider.url,
            sms_aliyun_access_key_id=KEY_ID,
            sms_aliyun_access_key_secret=SECRET,
            sms_aliyun_sign_name="东城区居家养老",
        )
    )
    assert chosen is not None
    await chosen.send(MESSAGE)
    assert len(provider.sent) == 1
