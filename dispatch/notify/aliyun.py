"""Aliyun SMS (dysmsapi 2017-05-25, SendSms) with its documented RPC request signing:
HMAC-SHA1 over the canonicalised query, keyed with the AccessKey secret plus "&"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from dispatch.notify.sms import SmsFailed, SmsMessage, SmsReceipt

API_VERSION = "2017-05-25"


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the signature wants it: space %20, * %2A, ~ kept."""
    return quote(value, safe="~")


def signature(params: Mapping[str, str], secret: str, method: str = "GET") -> str:
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSms:
    """Sends through Aliyun's SendSms; any answer but Code "OK" is an SmsFailed."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        region: str = "cn-hangzhou",
        timeout_s: float = 10.0,
    ) -> None:
        self._endpoint = endpoint.rstrip("/") + "/"
        self._key_id, self._secret = access_key_id, access_key_secret
        self._sign_name, self._region, self._timeout_s = sign_name, region, timeout_s

    def signed_query(self, message: SmsMessage, *, at: datetime, nonce: str) -> dict[str, str]:
        params = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": message.phone,
            "RegionId": self._region,
            "SignName": self._sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce,
            "SignatureVersion": "1.0",
            "TemplateCode": message.template_code,
            "TemplateParam": json.dumps(dict(message.params), ensure_ascii=False),
            "Timestamp": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }
        return {**params, "Signature": signature(params, self._secret)}

    async def send(self, message: SmsMessage) -> SmsReceipt:
        query = self.signed_query(message, at=datetime.now(UTC), nonce=str(uuid.uuid4()))
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                answer = await client.get(self._endpoint, params=query)
            body = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise SmsFailed("unreachable", str(error) or type(error).__name__) from error
        if not isinstance(body, dict) or body.get("Code") != "OK":
            code = body.get("Code", str(answer.status_code)) if isinstance(body, dict) else "?"
            text = body.get("Message", "") if isinstance(body, dict) else str(body)
            raise SmsFailed(str(code), str(text))
        return SmsReceipt(provider_id=str(body.get("BizId", "")))
