"""`ram serve` also serves the console logon pages, under /console, beside the APIs."""

from __future__ import annotations

import httpx

from .live import Live


def test_logon_page_is_served_beside_the_apis(live: Live) -> None:
    page = httpx.get(f"http://{live.endpoint}/console/logon", timeout=10)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert 'name="password"' in page.text


def test_console_home_without_a_session_redirects_to_logon(live: Live) -> None:
    home = httpx.get(f"http://{live.endpoint}/console/", headers={"Accept": "text/html"}, timeout=10)
    assert home.status_code in (302, 303)
    assert "/console/logon" in home.headers["location"]


def test_api_paths_still_answer_json(live: Live) -> None:
    health = httpx.get(f"http://{live.endpoint}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["Status"] == "ok"
    unsigned = httpx.post(f"http://{live.endpoint}/?Action=ListUsers&Version=2015-05-01", timeout=10)
    assert unsigned.status_code == 401 and unsigned.json()["Code"]
