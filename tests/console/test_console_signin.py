"""Microsoft sign-in (OIDC code flow + PKCE through msal) against the Entra double, token sign-in,
server-side sign-out, and the redirect rules."""
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import ADMIN

from .conftest import csrf_of


def test_console_pages_send_strangers_to_sign_in_with_where_they_were_going(client):
    for path in ("/console", "/console/incidents/INC-20260302-1", "/console/rotations", "/console/tokens"):
        response = client.get(path)
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/auth/sign-in" and parse_qs(location.query)["next"] == [path]
    page = client.get("/auth/sign-in?next=/console").get_data(as_text=True)
    assert "Sign in with Microsoft" in page and 'name="token"' in page


def test_the_authorize_request_uses_pkce_s256_state_and_nonce(client, entra):
    response = client.get("/auth/microsoft?next=/console")
    target = urlsplit(response.headers["Location"])
    query = {k: v[-1] for k, v in parse_qs(target.query).items()}
    assert target.path == f"/{entra.tenant}/oauth2/v2.0/authorize"
    assert f"{target.scheme}://{target.netloc}" == entra.base_url
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43 and query["state"] and query["nonce"]
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    assert query["redirect_uri"] == "http://herald.test/auth/microsoft/callback"


def test_signing_in_with_microsoft_finds_the_person_by_alias_and_goes_next(client, team, sign_in, entra):
    response = sign_in(client, "A.Archer@corp.example", "Alice A", next_path="/console/rotations")
    assert response.status_code == 303 and response.headers["Location"] == "/console/rotations"
    page = client.get("/console").get_data(as_text=True)
    assert "Alice Archer" in page and "Sign out" in page
    token_request = next(r for r in entra.requests if r.path.endswith("/token"))  # the code went back with the PKCE verifier and the client secret
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code_verifier"][0]


def test_an_unknown_person_gets_no_session(client, team, sign_in):
    response = sign_in(client, "mallory@elsewhere.example", "Mallory")
    assert response.status_code == 403 and "nobody in Herald has that address" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302


def test_a_wrong_or_missing_state_is_refused(client, team, entra):
    entra.person(name="Alice", preferred_username="alice@example.com")
    start = client.get("/auth/microsoft")
    answer = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"])
    query = {k: v[-1] for k, v in parse_qs(answer.query).items()}
    forged = client.get(f"/auth/microsoft/callback?code={query['code']}&state=forged")
    assert forged.status_code == 400
    assert client.get("/console").status_code == 302
    # The pending sign-in was used up: the genuine answer arriving now is refused too.
    late = client.get(f"/auth/microsoft/callback?code={query['code']}&state={query['state']}")
    assert late.status_code == 400 and client.get("/console").status_code == 302
    assert client.get("/auth/microsoft/callback?code=x").status_code == 400


def test_a_refused_consent_or_failed_exchange_gives_no_session(client, team, entra, sign_in):
    entra.refuse_next = "access_denied"
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 401 and "did not sign you in" in response.get_data(as_text=True)
    entra.client_secret = "rotated"  # Herald's secret is now wrong: the exchange fails
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 401 and "AADSTS7000215" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302


def test_an_id_token_signed_by_another_key_is_refused(app, entra):
    from service import clock
    from service.microsoft import MicrosoftSignIn, SignInFailed

    helper = MicrosoftSignIn(tenant_id=entra.tenant, client_id=entra.client_id, client_secret=entra.client_secret,
                             authority=entra.authority)
    claims = {"oid": "o-1", "name": "Eve", "preferred_username": "alice@example.com", "tid": entra.tenant}
    assert helper.verify(entra.id_token(claims), clock.now())["oid"] == "o-1"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (entra.id_token(claims, key=stranger),                      # not the tenant's key
                  entra.id_token(claims, kid="unknown-kid"),                 # a key the tenant does not publish
                  entra.id_token(claims, aud="another-app"),                 # for another application
                  entra.id_token(claims, iss="https://evil.example/v2.0"),   # from another issuer
                  entra.id_token(claims, exp=int(clock.now().timestamp()) - 3600)):  # expired on Herald's clock
        try:
            helper.verify(token, clock.now())
        except SignInFailed as exc:
            assert exc.status in (401,)
        else:
            raise AssertionError(f"accepted {jwt.decode(token, options={'verify_signature': False})}")


def test_next_must_be_a_local_path(client, team, sign_in):
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = sign_in(client, "alice@example.com", next_path=evil)
        assert response.status_code == 303 and response.headers["Location"] == "/console"


def test_logout_ends_the_session_on_the_server(app, client, team, sign_in):
    response = sign_in(client, "alice@example.com")
    cookie = client.get_cookie("session").value
    copy = app.test_client()
    copy.set_cookie("session", cookie)
    assert copy.get("/console").status_code == 200
    page = client.get("/console").get_data(as_text=True)
    assert client.post("/auth/logout").status_code == 400  # no CSRF token: nothing happens
    assert copy.get("/console").status_code == 200
    out = client.post("/auth/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303 and response.status_code == 303
    assert copy.get("/console").status_code == 302 and client.get("/console").status_code == 302


def test_token_sign_in_keeps_working_for_wall_displays(client, token_for):
    reader = token_for("read")["Authorization"].removeprefix("Bearer ")
    page = client.get("/auth/sign-in?next=/console/rotations").get_data(as_text=True)
    response = client.post("/auth/token", data={"csrf_token": csrf_of(page), "token": reader,
                                                "next": "/console/rotations"})
    assert response.status_code == 303 and response.headers["Location"] == "/console/rotations"
    assert client.get("/console/rotations").status_code == 200
    assert client.post("/auth/token", data={"token": reader}).status_code == 400  # CSRF


def test_the_board_accepts_a_microsoft_session(client, team, sign_in):
    sign_in(client, "bob@example.com")
    assert client.get("/board").status_code == 200
    assert client.get("/api/incidents").status_code == 401  # the API never takes a cookie
    assert client.get("/api/incidents", headers=ADMIN).status_code == 200


def test_members_of_the_admin_group_are_admins(app, config, client, team, sign_in):
    config.oidc_admin_group = "9f1c-admins"
    sign_in(client, "bob@example.com", groups=["0000-other", "9f1c-admins"])
    assert "Add a person" in client.get("/console/people").get_data(as_text=True)
    other = app.test_client()
    sign_in(other, "carol@example.com", groups=["0000-other"])
    assert "Add a person" not in other.get("/console/people").get_data(as_text=True)
