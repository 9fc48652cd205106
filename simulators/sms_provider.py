"""A local stand-in for Aliyun SMS (dysmsapi 2017-05-25, SendSms) for tests and demos.

It implements the provider's documented request and answer: the RPC common
parameters, the HMAC-SHA1 signature over the canonicalised query (checked here
independently of the adapter), the 15-minute timestamp window, nonces used once,
and the JSON answers, OK or the documented error codes. It sends no SMS: it keeps
what it accepted in ``sent``.

Like the provider's "HTTP batch push" it also posts what happens next to the
addresses the bureau configured: delivery reports (SmsReport, a JSON array;
``report()``, or by itself ``report_delay_s`` after each send) and the texts
phones send back (SmsUp; ``reply()``). The provider pushes again when the answer
is not a 200 with a numeric ``code``, after ``retry_s``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

WINDOW_S = 15 * 60
REQUIRED = ("PhoneNumbers", "SignName", "TemplateCode")
COMMON = ("AccessKeyId", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp")
BEIJING = timezone(timedelta(hours=8))  # the pushes' times are Beijing time, no zone
# The documented retries are after 1, 5 and 10 minutes.
ALIYUN_RETRIES_S = (60.0, 300.0, 600.0)


def _beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def push(url: str, items: list[dict[str, Any]], retry_s: Sequence[float] = ()) -> bool:
    """POST a batch as the provider does; try again after each of ``retry_s`` while
    the answer is not a 200 with a numeric ``code``. Whether it was taken."""
    data = json.dumps(items, ensure_ascii=False).encode()
    for wait in (0.0, *retry_s):
        time.sleep(wait)
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                if isinstance(json.loads(answer.read()).get("code"), int):
                    return True
        except (urllib.error.URLError, OSError, ValueError, AttributeError):
            pass
    return False


def _enc(value: str) -> str:
    return quote(value, safe="~")


def expected_signature(params: dict[str, str], secret: str) -> str:
    canonical = "&".join(f"{_enc(k)}={_enc(params[k])}" for k in sorted(params))
    to_sign = "GET&%2F&" + _enc(canonical)
    return base64.b64encode(
        hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()


class AliyunSmsStandIn:
    """``with AliyunSmsStandIn({"key id": "secret"}) as sms: sms.url``"""

    def __init__(
        self,
        keys: dict[str, str],
        *,
        report_url: str | None = None,
        up_url: str | None = None,
        report_delay_s: float | None = None,
        undeliverable: frozenset[str] = frozenset(),
        retry_s: Sequence[float] = ALIYUN_RETRIES_S,
    ) -> None:
        self.keys = keys
        self.sent: list[dict[str, str]] = []
        self.report_url, self.up_url = report_url, up_url
        # None: reports only when report() is called; else pushed this long after a send.
        self.report_delay_s = report_delay_s
        self.undeliverable = undeliverable  # phones switched off for good
        self.retry_s = tuple(retry_s)
        self._sequence = 0
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> AliyunSmsStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request_id = str(uuid.uuid4()).upper()

        def error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
            return status, {"RequestId": request_id, "Code": code, "Message": message}

        for name in (*COMMON, "Signature", "Action", "Version"):
            if name not in params:
                return error(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return error(400, "InvalidAction.NotFound", "Specified api is not found.")
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return error(400, "InvalidSignatureMethod", "Specified signature method is invalid.")
        try:
            at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return error(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs((datetime.now(UTC) - at).total_seconds()) > WINDOW_S:
            return error(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        signed = {k: v for k, v in params.items() if k != "Signature"}
        if not hmac.compare_digest(params["Signature"], expected_signature(signed, secret)):
            return error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        with self._lock:
            if params["SignatureNonce"] in self._nonces:
                return error(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
            self._nonces.add(params["SignatureNonce"])
        for name in REQUIRED:
            if not params.get(name):
                return error(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if not all(re.fullmatch(r"1\d{10}", p) for p in params["PhoneNumbers"].split(",")):
            return 200, {
                "RequestId": request_id,
                "Code": "isv.MOBILE_NUMBER_ILLEGAL",
                "Message": "非法手机号",
            }
        try:
            json.loads(params.get("TemplateParam", "{}"))
        except ValueError:
            return 200, {
                "RequestId": request_id,
                "Code": "isv.INVALID_JSON_PARAM",
                "Message": "JSON参数不合法",
            }
        biz_id = f"{uuid.uuid4().int % 10**18:018d}^0"
        accepted = {**signed, "BizId": biz_id}
        with self._lock:
            self.sent.append(accepted)
        if self.report_delay_s is not None and self.report_url:
            timer = threading.Timer(self.report_delay_s, self.report, (accepted,))
            timer.daemon = True
            timer.start()
        return 200, {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": biz_id}

    def report(self, accepted: dict[str, str], *, delivered: bool | None = None) -> bool:
        """Push the delivery report of one accepted message (``sent`` holds them):
        delivered unless the phone is undeliverable, or as ``delivered`` says."""
        assert self.report_url, "no report address configured"
        phone = accepted["PhoneNumbers"]
        ok = phone not in self.undeliverable if delivered is None else delivered
        item = {
            "phone_number": phone,
            "send_time": _beijing(
                datetime.strptime(accepted["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            ),
            "report_time": _beijing(datetime.now(UTC)),
            "success": ok,
            # Failure codes come from the carriers and vary; this is a typical one.
            "err_code": "DELIVERED" if ok else "MK:0001",
            "err_msg": "用户接收成功" if ok else "用户未接收",
            "sms_size": "1",
            "biz_id": accepted["BizId"],
            "out_id": accepted.get("OutId", ""),
        }
        return push(self.report_url, [item], self.retry_s)

    def reply(self, phone: str, content: str) -> bool:
        """A phone texts the centre's number: push it as an up-link message."""
        assert self.up_url, "no reply address configured"
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        sign = self.sent[-1].get("SignName", "") if self.sent else ""
        item = {
            "phone_number": phone,
            "send_time": _beijing(datetime.now(UTC)),
            "content": content,
            "sign_name": sign,
            "dest_code": "1234",
            "sequence_id": sequence,
        }
        return push(self.up_url, [item], self.retry_s)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                status, body = stand_in.answer(params)
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet in tests

        return Handler
