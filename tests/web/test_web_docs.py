"""`/docs` renders the OpenAPI document with assets Herald serves itself: it works offline."""
import re

import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_docs_page_loads_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert referenced, html
    assert not [url for url in referenced if "//" in url], referenced
    for url in referenced:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 1000, url
    assert client.get("/docs/assets/swagger-ui-bundle.js").headers["Content-Type"].startswith(
        ("application/javascript", "text/javascript"))
    assert '"/openapi.json"' in html


def test_docs_render_with_the_network_cut_off(chromium, live_server):
    context = chromium.new_context()
    outside = []

    def only_local(route):
        if route.request.url.startswith(live_server):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.goto(f"{live_server}/docs")
    page.get_by_text("/api/incidents", exact=True).first.wait_for(timeout=15000)
    assert page.locator(".info .title").inner_text().startswith("Herald")
    context.close()
    assert outside == []
