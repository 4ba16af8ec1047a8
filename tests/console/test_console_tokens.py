"""API tokens from the console: admins list, create (shown once) and revoke; the API agrees."""
import re

from service import auth, db


def stored(app, name: str) -> list:
    with app.app_context():
        return [t for t in auth.list_tokens(db.session) if t.name == name]


def test_an_admin_creates_lists_and_revokes_tokens(app, client, as_person, team):
    ada, csrf = as_person("ada@example.com")
    page = ada.post("/console/tokens", data={"csrf_token": csrf, "name": "wall display", "scopes": ["read"]})
    html = page.get_data(as_text=True)
    secret = re.search(r'id="secret" class="wide" readonly value="(hrld_[^"]+)"', html).group(1)
    assert client.get("/api/incidents", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = ada.get("/console/tokens").get_data(as_text=True)
    assert "wall display" in listed and secret not in listed  # shown once
    token = stored(app, "wall display")[0]
    assert ada.post(f"/console/tokens/{token.id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert stored(app, "wall display")[0].revoked_at is not None
    assert client.get("/api/incidents", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    bad = ada.post("/console/tokens", data={"csrf_token": csrf, "name": "x", "scopes": ["root"]})
    assert bad.status_code == 422


def test_only_admins_see_tokens(app, client, as_person, team):
    alice, csrf = as_person("alice@example.com")
    assert alice.get("/console/tokens").status_code == 403
    assert alice.post("/console/tokens", data={"csrf_token": csrf, "name": "mine", "scopes": ["admin"]}
                      ).status_code == 403
    assert stored(app, "mine") == []
