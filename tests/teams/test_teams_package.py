"""The Adaptive Card rules, the app package, and the people API's Entra object ids."""
import io
import json
import struct
import zipfile

import pytest
from click.testing import CliRunner

from service.cli import main
from service.teams.cards import card_problems
from tests.conftest import ADMIN


def card(**extra) -> dict:
    return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "hello"}], **extra}


def test_a_good_card_passes():
    good = card(actions=[{"type": "Action.Execute", "verb": "ack", "data": {"token": "t"},
                          "fallback": {"type": "Action.Submit", "title": "Ack"}},
                         {"type": "Action.ShowCard", "title": "Post", "card": {
                             "type": "AdaptiveCard", "body": [{"type": "Input.Text", "id": "learned"}],
                             "actions": [{"type": "Action.Execute", "verb": "update"}]}}],
                refresh={"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": ["29:a"]})
    assert card_problems(good) == []


@pytest.mark.parametrize("bad, problem", [
    ({"type": "Card"}, "type AdaptiveCard"),
    (card(version="1.4"), "version must be 1.5"),
    (card(body=[]), "non-empty body"),
    (card(body=[{"type": "Marquee", "text": "x"}]), "unknown element type 'Marquee'"),
    (card(body=[{"type": "FactSet", "facts": [{"title": "a", "value": 1}]}]), "a fact needs a title and a value"),
    (card(actions=[{"type": "Action.Submit", "title": "x"}]), "Action.Submit only as a fallback"),
    (card(actions=[{"type": "Action.Execute", "title": "x"}]), "Action.Execute needs verb"),
    (card(actions=[{"type": "Action.OpenUrl", "url": "javascript:alert(1)"}]), "needs an http(s) url"),
    (card(body=[{"type": "Input.Text", "id": "a"}, {"type": "Input.Text", "id": "a"}]), "input id 'a' is used twice"),
    (card(refresh={"action": {"type": "Action.Submit"}}), "refresh.action must be an Action.Execute"),
    (card(refresh={"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": [f"29:{i}" for i in range(61)]}),
     "at most 60"),
    (card(body=[{"type": "TextBlock", "text": "x" * 28_000}]), "Teams takes at most 28000"),
])
def test_card_rules(bad, problem):
    assert any(problem in p for p in card_problems(bad)), card_problems(bad)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_app_package(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_TEAMS_APP_ID", "9d2d5c3a-6c4e-4d7a-9b0f-3a2b1c0d9e8f")
    monkeypatch.setenv("HERALD_BASE_URL", "https://herald.example.com/")
    out = tmp_path / "herald-teams.zip"
    result = CliRunner().invoke(main, ["teams", "manifest", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color, outline = archive.read("color.png"), archive.read("outline.png")
    assert manifest["manifestVersion"] == "1.16"
    assert manifest["bots"][0]["botId"] == "9d2d5c3a-6c4e-4d7a-9b0f-3a2b1c0d9e8f"
    assert manifest["bots"][0]["scopes"] == ["personal", "team"]
    assert manifest["validDomains"] == ["herald.example.com"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["webApplicationInfo"]["id"] == manifest["id"]
    assert _png_size(color) == (192, 192) and _png_size(outline) == (32, 32)
    assert struct.unpack(">B", outline[25:26])[0] == 6  # RGBA: white on transparent


def test_the_package_needs_an_app_id(tmp_path, monkeypatch):
    monkeypatch.delenv("HERALD_TEAMS_APP_ID", raising=False)
    result = CliRunner().invoke(main, ["teams", "manifest", "--out", str(tmp_path / "x.zip")])
    assert result.exit_code == 1 and "HERALD_TEAMS_APP_ID" in result.output
    assert not (tmp_path / "x.zip").exists()


def test_people_carry_their_entra_object_id(client, make_person):
    make_person("alice")
    make_person("bob")
    guid = "8A1B2C3D-0000-4000-8000-00000000000A"
    answer = client.patch("/api/people/alice", json={"aad_object_id": guid}, headers=ADMIN)
    assert answer.status_code == 200 and answer.get_json()["aad_object_id"] == guid.lower()
    assert client.get("/api/people/alice", headers=ADMIN).get_json()["aad_object_id"] == guid.lower()
    taken = client.patch("/api/people/bob", json={"aad_object_id": guid.lower()}, headers=ADMIN)
    assert taken.status_code == 409 and "aad_object_id" in taken.get_json()["errors"]
    bad = client.patch("/api/people/bob", json={"aad_object_id": "not-a-guid"}, headers=ADMIN)
    assert bad.status_code == 422 and "aad_object_id" in bad.get_json()["errors"]
    assert client.patch("/api/people/alice", json={"aad_object_id": None}, headers=ADMIN).get_json()[
        "aad_object_id"] is None
