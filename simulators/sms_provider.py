"""A local stand-in for Aliyun SMS (dysmsapi 2017-05-25, SendSms) for tests and demos.

It implements the provider's documented request and answer: the RPC common
parameters, the HMAC-SHA1 signature over the canonicalised query (checked here
independently of the adapter), the 15-minute timestamp window, nonces used once,
and the JSON answers, OK or the documented error codes. It sends no SMS: it keeps
what it accepted in ``sent``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

WINDOW_S = 15 * 60
REQUIRED = ("PhoneNumbers", "SignName", "TemplateCode")
COMMON = ("AccessKeyId", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp")


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

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.sent: list[dict[str, str]] = []
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
        with self._lock:
            self.sent.append({**signed, "BizId": biz_id})
        return 200, {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": biz_id}

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
