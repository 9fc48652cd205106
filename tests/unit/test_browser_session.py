"""The cross-origin check that guards the pages' cookie session (browser_session)."""

from __future__ import annotations

import pytest

from dispatch.api.browser_session import cross_origin, foreign_origin

HOST = {"host": "127.0.0.1:8000"}


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_pass_from_anywhere(method: str) -> None:
    assert cross_origin(method, {**HOST, "sec-fetch-site": "cross-site"}) is None


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_the_browser_saying_same_origin_passes(site: str) -> None:
    # Sec-Fetch-Site is what the browser itself vouches for: it wins over Origin.
    headers = {**HOST, "sec-fetch-site": site, "origin": "http://127.0.0.1:8000"}
    assert cross_origin("POST", headers) is None


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_another_site_or_a_sibling_subdomain_is_refused(site: str) -> None:
    assert cross_origin("POST", {**HOST, "sec-fetch-site": site}) == f"Sec-Fetch-Site: {site}"


def test_without_fetch_metadata_the_origin_must_be_the_host() -> None:
    assert cross_origin("PUT", {**HOST, "origin": "http://127.0.0.1:8000"}) is None
    assert cross_origin("DELETE", {**HOST, "origin": "http://evil.example"}) is not None
    assert cross_origin("POST", {**HOST, "origin": "http://127.0.0.1:9000"}) is not None
    assert cross_origin("POST", {**HOST, "origin": "null"}) == "Origin: null"  # sandboxed frames


def test_a_request_naming_no_origin_is_no_browser_and_passes() -> None:
    # curl, scripts: nothing a page of another site can make ride on a cookie.
    assert cross_origin("POST", HOST) is None


def test_hosts_compare_without_case() -> None:
    headers = {"host": "CareBell.example", "origin": "https://carebell.example"}
    assert foreign_origin(headers) is None
