from __future__ import annotations

import pytest

from medfed.core.errors import InvalidInput
from medfed.node.client import check_server_url


@pytest.mark.parametrize(
    "url",
    [
        "https://medfed.example.org",
        "http://127.0.0.1:8000",
        "http://localhost:8000/",
        "http://[::1]:8000",
    ],
)
def test_https_or_loopback_http_is_accepted(url: str) -> None:
    assert check_server_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://medfed.example.org", "http://10.0.0.5:8000", "ftp://x", "medfed.example.org"]
)
def test_plain_http_to_remote_hosts_and_non_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_server_url(url)
    assert caught.value.field == "server"
