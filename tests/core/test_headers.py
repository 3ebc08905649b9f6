"""Security headers: what each response gets (pure)."""

from __future__ import annotations

from medfed.core.headers import CONTENT_SECURITY_POLICY, security_headers


def test_pages_get_a_strict_policy_no_framing_and_no_store() -> None:
    added = dict(security_headers("/models/heart/predict", "http", []))
    assert added[b"content-security-policy"] == CONTENT_SECURITY_POLICY.encode()
    assert b"'unsafe-inline'" not in added[b"content-security-policy"]
    assert b"frame-ancestors 'none'" in added[b"content-security-policy"]
    assert added[b"x-frame-options"] == b"DENY" and added[b"cache-control"] == b"no-store"
    assert added[b"x-content-type-options"] == b"nosniff"
    assert b"strict-transport-security" not in added


def test_static_assets_stay_cacheable_and_tls_adds_hsts() -> None:
    added = dict(security_headers("/static/medfed.css", "https", []))
    assert b"cache-control" not in added and b"strict-transport-security" in added


def test_a_header_the_response_already_set_is_kept() -> None:
    added = dict(security_headers("/api/v1/models", "http", [b"Cache-Control"]))
    assert b"cache-control" not in added
