"""Match pages, reports and the API show the band of each score (强匹配 / 可能相关 / 弱相关): strong and possible
matches are listed, weak ones folded away, an honest empty state when nothing reaches the middle band.

The engine's scores are chosen here (find_matches replaced): what is tested is how pages treat the bands, not
today's scores, which are being recalibrated."""
from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any, Callable

import pytest

pytestmark = pytest.mark.model  # the market fixture publishes listings (index updates load the embedding model)

from services.bands import POSSIBLE_MIN, STRONG_MIN

# scores on each side of the band floors, wherever they are set
JUST_WEAK, LOW_WEAK = POSSIBLE_MIN - 0.1, POSSIBLE_MIN / 2
STRONG = STRONG_MIN + 12.0

VOID = {"input", "meta", "br", "img", "hr", "link", "source", "wbr", "col", "area", "base", "embed", "track"}


class Tree(HTMLParser):
    """Each element's open ancestors, as (tag, class) pairs, by the order it appears in the page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.seen: list[tuple[str, dict[str, str], list[tuple[str, str]]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.seen.append((tag, attributes, list(self.stack)))
        if tag not in VOID:
            self.stack.append((tag, attributes.get("class", "")))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def ancestors_of_link(self, href_end: str) -> list[tuple[str, str]]:
        """The ancestors of the first link whose address ends with href_end."""
        for tag, attributes, stack in self.seen:
            if tag == "a" and attributes.get("href", "").endswith(href_end):
                return stack
        raise AssertionError(f"no link to {href_end}")

    def elements(self, tag: str, cls: str) -> list[list[tuple[str, str]]]:
        """The ancestors of every element of this tag whose class list holds cls."""
        return [stack for t, attributes, stack in self.seen if t == tag and cls in attributes.get("class", "").split()]


def in_details(stack: list[tuple[str, str]], cls: str) -> bool:
    return any(tag == "details" and cls in classes.split() for tag, classes in stack)


@pytest.fixture
def scored(app, market, make_user, make_listing, monkeypatch) -> Callable[..., None]:
    """Make the engine answer the market's demand with the given scores per achievement (name -> score); a
    third achievement, "mid", joins the market."""
    from matchmaking.engine import Match
    from services.matching import MatchView

    market["mid"] = make_listing("achievement", make_user("university", org="西北材料研究院"),
                                 reviewer=market["broker"], title="富锂锰基正极材料表面改性技术")

    def answer(scores: dict[str, float]) -> None:
        def find_matches(session: Any, item: Any, k: int = 10) -> list:
            from models import Achievement

            return [MatchView(listing=session.get(Achievement, market[name].id),
                              match=Match(id=market[name].id, score=score,
                                          breakdown={"semantic": 0.5, "lexical": 0.25},
                                          shared_terms=["高镍", "包覆", "循环寿命", "正极"],
                                          best_sentence="1000次循环容量保持率达到88%。"))
                    for name, score in scores.items()]

        monkeypatch.setattr(app.extensions["matching"], "find_matches", find_matches)

    return answer


def page_of(client, market) -> str:
    resp = client.get(f"/matches/demand/{market['demand'].id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_only_weak_matches_say_so_and_offer_next_steps(client, market, login, scored, zh):
    scored({"good": JUST_WEAK, "off": LOW_WEAK})
    login(market["company"])
    page = page_of(client, market)
    assert zh("No achievement is a strong or possible match yet.") in page
    tree = Tree(page)
    for href in ("/search/achievement", "/roadshows/", "/introductions/"):  # widen, roadshow, ask a broker
        assert in_details(tree.ancestors_of_link(href), "weak-matches") is False, href
    # the weak results are still there, folded
    for name in ("good", "off"):
        assert in_details(tree.ancestors_of_link(f"/achievement/{market[name].id}"), "weak-matches"), name
    assert "2 条弱相关结果" in page and zh("No published counterpart matches yet.") not in page
    assert re.findall(r'<span class="band-label">([^<]+)</span>', page) == ["弱相关", "弱相关"]


def test_broker_empty_state_proposes_a_roadshow(client, market, login, scored, zh):
    scored({"good": JUST_WEAK})
    login(market["broker"])
    page = page_of(client, market)
    assert zh("Propose it for a roadshow: roadshows bring a field's achievements and companies together") in page
    assert "1 条弱相关结果" in page


def test_no_published_counterpart_is_not_the_weak_only_state(client, market, login, scored, zh):
    scored({})
    login(market["company"])
    page = page_of(client, market)
    assert zh("No published counterpart matches yet.") in page
    assert zh("No achievement is a strong or possible match yet.") not in page and "weak-matches" not in page


def test_strong_and_possible_are_listed_and_weak_folded(client, market, login, scored):
    scored({"good": STRONG, "mid": POSSIBLE_MIN, "off": JUST_WEAK})
    login(market["broker"])
    page = page_of(client, market)
    tree = Tree(page)
    assert not in_details(tree.ancestors_of_link(f"/achievement/{market['good'].id}"), "weak-matches")
    assert not in_details(tree.ancestors_of_link(f"/achievement/{market['mid'].id}"), "weak-matches")
    assert in_details(tree.ancestors_of_link(f"/achievement/{market['off'].id}"), "weak-matches")
    assert "暂无强匹配或可能相关" not in page and "1 条弱相关结果" in page
    cards = re.findall(r'<li class="match band-(\w+)">.*?<span class="band-label">([^<]+)</span>', page, re.DOTALL)
    assert cards == [("strong", "强匹配"), ("possible", "可能相关"), ("weak", "弱相关")]
    assert f'<span class="n">{STRONG:.0f}</span>' in page
    assert "暂无强匹配。" not in page


def test_only_three_shared_terms_and_the_evidence_are_shown(client, market, login, scored):
    scored({"good": 72.0})
    login(market["company"])
    page = page_of(client, market)
    assert re.findall(r'<span class="tag hit">([^<]+)</span>', page) == ["高镍", "包覆", "循环寿命"]
    assert "<blockquote>" in page and "1000次循环容量保持率达到88%" in page


def test_breakdown_and_forms_open_on_demand(client, market, login, scored, zh):
    scored({"good": 72.0, "mid": 40.0, "off": 5.0})
    login(market["broker"])
    page = page_of(client, market)
    tree = Tree(page)
    intro, feedback = tree.elements("form", "intro-request"), tree.elements("form", "feedback")
    meters = [stack for tag, _a, stack in tree.seen if tag == "meter"]
    assert len(intro) == len(feedback) == 3 and len(meters) == 3 * 7
    assert all(in_details(s, "intro") for s in intro) and all(in_details(s, "feedback-form") for s in feedback)
    assert all(in_details(s, "why") for s in meters)
    assert "<details open" not in page and page.count(f"<summary>{zh('Why this score')}</summary>") == 3
    assert page.count(f"<summary>{zh('Request an introduction')}</summary>") == 3


def test_possible_matches_without_a_strong_one_say_so_plainly(client, market, login, scored, zh):
    scored({"mid": STRONG_MIN - 1.0, "off": JUST_WEAK})
    login(market["company"])
    page = page_of(client, market)
    assert zh("No strong match yet.") in page and "暂无强匹配。" in page
    assert zh("The possible matches below are leads to check, not answers. What you can do next:") in page
    assert zh("No achievement is a strong or possible match yet.") not in page
    tree = Tree(page)
    assert not in_details(tree.ancestors_of_link(f"/achievement/{market['mid'].id}"), "weak-matches")
    assert in_details(tree.ancestors_of_link(f"/achievement/{market['off'].id}"), "weak-matches")


def test_band_labels_in_english(client, market, login, scored):
    scored({"good": 60.0, "mid": 59.9, "off": 1.0})
    login(market["broker"])
    client.submit("/lang/en", {"next": "/"}, form_url="/")
    page = page_of(client, market)
    assert "Strong match" in page and "Possible match" in page and "Weak match" in page
    assert "1 weak match<" in page and "Why this score" in page
    scored({"off": 1.0, "mid": 3.0})
    page = page_of(client, market)
    assert "No achievement is a strong or possible match yet." in page and "2 weak matches<" in page
    assert "Widen the search: browse the published achievements of every field" in page


# -- the API ------------------------------------------------------------------------------------------------

@pytest.fixture
def token_for(session) -> Callable[[Any], dict[str, str]]:
    from services import tokens

    def make(user: Any) -> dict[str, str]:
        _row, clear = tokens.create_token(session, user, "test")
        session.commit()
        return {"Authorization": f"Bearer {clear}"}

    return make


def test_api_matches_carry_the_band_and_an_honest_empty_state(app, market, scored, token_for, zh):
    api, url = app.test_client(), f"/api/v1/demands/{market['demand'].id}/matches"
    headers = token_for(market["company"])
    scored({"good": 61.0, "mid": 30.0, "off": JUST_WEAK})
    body = api.get(url, headers=headers).get_json()
    assert [i["band"] for i in body["items"]] == ["strong", "possible", "weak"]
    assert body["has_match"] is True and body["has_strong_match"] is True and body["message"] is None
    scored({"mid": 30.0, "off": JUST_WEAK})
    body = api.get(url, headers=headers).get_json()
    assert body["has_match"] is True and body["has_strong_match"] is False
    assert body["message"] == zh("No strong match yet: the possible matches are leads to check, not answers. Widen "
                                 "the search to every field, propose the listing for a roadshow, or ask a broker.")
    assert body["message"].startswith("暂无强匹配")
    scored({"good": JUST_WEAK, "off": LOW_WEAK})
    body = api.get(url, headers=headers).get_json()
    assert body["has_match"] is False and [i["band"] for i in body["items"]] == ["weak", "weak"]
    assert body["message"] == zh("No strong or possible match yet: only weak matches were found. Widen the search "
                                 "to every field, propose the listing for a roadshow, or ask a broker.")
    english = api.get(url, headers=dict(headers, **{"Accept-Language": "en"})).get_json()
    assert english["message"].startswith("No strong or possible match yet")
    scored({})
    body = api.get(url, headers=headers).get_json()
    assert body == {"items": [], "has_match": False, "has_strong_match": False,
                    "message": zh("No published counterpart matches yet.")}


def test_openapi_documents_the_band(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    match = next(s for name, s in schemas.items() if name.startswith("Match") and "band" in s.get("properties", {}))
    assert match["properties"]["band"]["enum"] == ["strong", "possible", "weak"]
    assert "worth a conversation" in match["properties"]["score"]["description"]
    listing = next(s for s in schemas.values() if "has_match" in s.get("properties", {}))
    assert {"items", "has_match", "message"} <= set(listing["required"])
    row = next(s for s in schemas.values() if "achievement_title" in s.get("properties", {}))
    assert "band" in row["required"]


# -- reports ------------------------------------------------------------------------------------------------

def run_report(client, market) -> int:
    resp = client.submit("/reports/new", {"scope": "demand", "listing_id": market["demand"].id, "k": 10})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    return int(re.search(r"/reports/(\d+)$", resp.headers["Location"]).group(1))


def test_report_page_exports_and_api_carry_the_band_of_the_stored_score(app, client, market, login, scored,
                                                                       token_for):
    from openpyxl import load_workbook

    scored({"good": 75.0, "mid": 25.0, "off": 3.0})
    login(market["broker"])
    rid = run_report(client, market)
    rows = list(csv.reader(io.StringIO(client.get(f"/reports/{rid}.csv").data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["序号", "匹配分", "匹配等级", "技术需求"]
    assert [(r[1], r[2]) for r in rows[1:]] == [("75.0", "强匹配"), ("25.0", "可能相关"), ("3.0", "弱相关")]
    sheet = load_workbook(io.BytesIO(client.get(f"/reports/{rid}.xlsx").data)).active
    assert [sheet.cell(row=n, column=3).value for n in (1, 2, 4)] == ["匹配等级", "强匹配", "弱相关"]
    page = client.get(f"/reports/{rid}").get_data(as_text=True)
    assert re.findall(r'class="band-label band-(\w+)">([^<]+)<', page) == [
        ("strong", "强匹配"), ("possible", "可能相关"), ("weak", "弱相关")]
    body = app.test_client().get(f"/api/v1/reports/{rid}", headers=token_for(market["broker"])).get_json()
    assert [(r["score"], r["band"]) for r in body["rows"]] == [(75.0, "strong"), (25.0, "possible"), (3.0, "weak")]


def test_report_pdf_has_the_band_column(client, market, login, scored):
    from tests.services.test_pdf import pdf_text

    scored({"good": 75.0, "off": 3.0})
    login(market["broker"])
    rid = run_report(client, market)
    text = pdf_text(client.get(f"/reports/{rid}.pdf").data)
    assert "匹配等级" in text and "强匹配" in text and "弱相关" in text
