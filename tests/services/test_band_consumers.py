"""Every consumer of the match score counts by the bands (matchmaking/bands.py), not by a score threshold of its
own: match coverage (需求对接率), new-match notifications, roadshow coverage (覆盖需求数), presenter proposals and
invitation suggestions. Scores are chosen here, on both sides of a band floor, so these tests hold whatever the
engine scores today: what is tested is how each consumer treats the bands."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from config import NOTIFY_MATCH_BANDS, Config, ConfigError
from matchmaking import bands
from matchmaking.engine import Match
from services import clock, notifications, roadshows, statistics
from services.errors import ServiceError

class NoMemo:
    """The runtime's side of presenter_coverage when score_matrix is replaced: nothing remembered."""

    calibration_ident = "test"

    def stamps(self, kinds: tuple[str, ...]) -> list[int]:
        return [1 for _ in kinds]

    def remember(self, key: tuple, compute: Any) -> Any:
        return compute()


# just under the middle band, in it, in the strong band
BELOW, POSSIBLE, STRONG = bands.POSSIBLE_MIN - 1.0, bands.POSSIBLE_MIN + 1.0, bands.STRONG_MIN + 1.0


@dataclass
class View:
    """What consumers read of a match view: the counterpart listing and its scored match."""

    listing: Any
    match: Match


def view(listing: Any, score: float) -> View:
    return View(listing, Match(id=listing.id, score=score, breakdown={}))


class FakeRuntime:
    """find_matches answering the chosen score of each (listing, counterpart) pair, best first."""

    def __init__(self, scores: dict[tuple[int, int], float], counterparts: list[Any]) -> None:
        self.scores, self.counterparts = scores, counterparts

    def find_matches(self, session: Any, item: Any, k: int = 10) -> list[View]:
        found = [view(c, self.scores[(item.id, c.id)]) for c in self.counterparts if (item.id, c.id) in self.scores]
        return sorted(found, key=lambda v: -v.match.score)[:k]

    @property
    def encoder(self) -> Any:
        raise AssertionError("not needed")


def roadshow_data(**over: Any) -> dict[str, Any]:
    data = {"title": "新能源电池专场路演", "theme": "动力电池材料", "field_code": "new_energy",
            "held_on": clock.today() + timedelta(days=10), "start_time": "14:00", "venue": "西安科技大市场",
            "online_link": "", "presentation_slots": 2, "meeting_slots": 3, "tables": 2, "slot_minutes": 20,
            "presenter_cap": 3, "company_cap": 2, "seats": 10}
    data.update(over)
    return data


# ---------------------------------------------------------------------------------------- configuration

def test_notify_band_choices_are_the_bands_above_weak() -> None:
    assert set(NOTIFY_MATCH_BANDS) == set(bands.BANDS) - {bands.WEAK}


def test_notify_min_band_defaults_to_possible_and_takes_strong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_MATCH_MIN_BAND", raising=False)
    assert Config().NOTIFY_MATCH_MIN_BAND == bands.POSSIBLE
    monkeypatch.setenv("NOTIFY_MATCH_MIN_BAND", "strong")
    assert Config().NOTIFY_MATCH_MIN_BAND == bands.STRONG


@pytest.mark.parametrize("value", ["weak", "70", "Strong"])
def test_a_bad_notify_min_band_stops_start_up_with_a_clear_message(monkeypatch: pytest.MonkeyPatch,
                                                                   value: str) -> None:
    monkeypatch.setenv("NOTIFY_MATCH_MIN_BAND", value)
    with pytest.raises(ConfigError, match=rf"(?s)NOTIFY_MATCH_MIN_BAND='{value}' 无效，可选值：possible, strong"
                                          r".*is not valid; use one of: possible, strong"):
        Config()


def test_the_old_score_settings_are_no_longer_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFY_MATCH_MIN_SCORE", "MATCH_MIN_SCORE", "COVERAGE_MIN_SCORE"):
        monkeypatch.setenv(name, "not a number")  # a leftover value neither stops start-up nor means anything
    config = Config()
    assert not any(hasattr(config, name) for name in ("NOTIFY_MATCH_MIN_SCORE", "MATCH_MIN_SCORE",
                                                      "COVERAGE_MIN_SCORE"))


# ------------------------------------------------------------------------------- notifications (service)

@pytest.mark.parametrize("band", [bands.WEAK, "medium"])
def test_announce_matches_refuses_a_band_below_possible_or_unknown(session, band: str) -> None:
    with pytest.raises(ValueError):
        notifications.announce_matches(session, [], lambda item: [], band)


@pytest.mark.model
@pytest.mark.parametrize("min_band, announced", [(bands.POSSIBLE, {POSSIBLE: bands.POSSIBLE, STRONG: bands.STRONG}),
                                                 (bands.STRONG, {STRONG: bands.STRONG})])
def test_notifications_follow_the_min_band(session, make_user, make_listing, min_band, announced) -> None:
    from models import Notification
    broker, company = make_user("broker"), make_user("company")
    demand = make_listing("demand", company, reviewer=broker)
    scored = {score: make_listing("achievement", make_user("university"), reviewer=broker, title=f"成果 {score:g}")
              for score in (BELOW, POSSIBLE, STRONG, bands.POSSIBLE_MIN)}
    found = [(a, s) for s, a in scored.items()]
    n = notifications.announce_matches(session, [demand], lambda item: found, min_band)
    expected = {scored[s].id: band for s, band in announced.items()}
    if min_band == bands.POSSIBLE:
        expected[scored[bands.POSSIBLE_MIN].id] = bands.POSSIBLE  # the floor itself is in the band
    assert n == len(expected)
    notes = session.query(Notification).filter_by(kind="strong_match", user_id=company.id).all()
    assert {note.params["other_id"]: note.params["band"] for note in notes} == expected


# ------------------------------------------------------------------------------------ statistics coverage

@pytest.mark.model
def test_coverage_counts_a_demand_with_a_match_in_the_middle_band_or_above(session, make_user, make_listing) -> None:
    broker, uni = make_user("broker"), make_user("university")
    achievement = make_listing("achievement", uni, reviewer=broker)
    demands = [make_listing("demand", make_user("company"), reviewer=broker, title=f"需求 {i}") for i in range(3)]
    scores = {(demands[0].id, achievement.id): BELOW, (demands[1].id, achievement.id): POSSIBLE,
              (demands[2].id, achievement.id): STRONG}
    c = statistics.coverage(session, FakeRuntime(scores, [achievement]))
    assert (c.covered, c.total) == (2, 3)
    scores[(demands[0].id, achievement.id)] = bands.POSSIBLE_MIN
    assert statistics.coverage(session, FakeRuntime(scores, [achievement])).covered == 3
    scores[(demands[1].id, achievement.id)] = BELOW
    assert statistics.coverage(session, FakeRuntime(scores, [achievement])).covered == 2


# ------------------------------------------------------------------------------------------ roadshows

@pytest.fixture
def programme(session, make_user, make_listing):
    """A roadshow, two presenters added by hand (as the demo seed and a broker's swap do), three open demands."""
    broker, uni = make_user("broker"), make_user("university", org="西北大学")
    achievements = [make_listing("achievement", uni, reviewer=broker, title=f"成果 {i}") for i in range(2)]
    demands = [make_listing("demand", make_user("company", org=f"企业 {i}"), reviewer=broker, title=f"需求 {i}")
               for i in range(3)]
    show = roadshows.create_roadshow(session, broker, roadshow_data())
    presenters = [roadshows.add_presenter(session, show, a.id) for a in achievements]
    session.commit()
    return dict(show=show, presenters=presenters, achievements=achievements, demands=demands)


def fixed_matrix(monkeypatch: pytest.MonkeyPatch, scores: dict[tuple[int, int], float]) -> None:
    """score_matrix answers the chosen (demand id, achievement id) scores, 0 for the others."""
    def matrix(runtime: Any, session: Any, demands: list, achievements: list) -> np.ndarray:
        return np.array([[scores.get((d.id, a.id), 0.0) for a in achievements] for d in demands]).reshape(
            len(demands), len(achievements))
    monkeypatch.setattr(roadshows, "score_matrix", matrix)


@pytest.mark.model
def test_roadshow_coverage_follows_the_band_floor(session, programme, monkeypatch) -> None:
    (d0, d1, d2), (a0, a1) = programme["demands"], programme["achievements"]
    p0, p1 = programme["presenters"]
    fixed_matrix(monkeypatch, {(d0.id, a0.id): POSSIBLE, (d0.id, a1.id): BELOW,
                               (d1.id, a0.id): BELOW, (d1.id, a1.id): BELOW,
                               (d2.id, a0.id): POSSIBLE, (d2.id, a1.id): STRONG})
    c = roadshows.presenter_coverage(session, NoMemo(), programme["show"])
    assert (c.demands, c.covered) == (3, 2)  # d1 matches nobody: BELOW is under the middle band
    assert c.by_presenter == {p0.id: 1, p1.id: 1}  # d2 counts once, for the presenter matching it best


@pytest.mark.model
def test_hand_added_presenters_get_their_coverage_without_a_proposal(session, programme, monkeypatch) -> None:
    """Regression: 覆盖需求数 was a count stored by propose_presenters only, so presenters added by hand (the
    demo roadshow's four, a broker's swap) showed 0 whatever they matched."""
    (d0, d1, d2), (a0, a1) = programme["demands"], programme["achievements"]
    fixed_matrix(monkeypatch, {(d0.id, a0.id): STRONG, (d1.id, a0.id): POSSIBLE, (d2.id, a1.id): POSSIBLE})
    c = roadshows.presenter_coverage(session, NoMemo(), programme["show"])
    assert [c.by_presenter[p.id] for p in programme["presenters"]] == [2, 1]
    roadshows.remove_presenter(session, programme["show"], programme["presenters"][0].id)
    c = roadshows.presenter_coverage(session, NoMemo(), programme["show"])
    assert (c.covered, list(c.by_presenter.values())) == (1, [1])  # follows the programme as it stands


@pytest.mark.model
def test_proposal_ignores_pairs_below_the_band_floor_and_agrees_with_the_live_count(session, programme,
                                                                                     monkeypatch) -> None:
    (d0, d1, d2), (a0, a1) = programme["demands"], programme["achievements"]
    fixed_matrix(monkeypatch, {(d.id, a.id): BELOW for d in (d0, d1, d2) for a in (a0, a1)})
    with pytest.raises(ServiceError) as err:
        roadshows.propose_presenters(session, object(), programme["show"])
    assert err.value.code == "roadshow.no_matching_demands"
    fixed_matrix(monkeypatch, {(d0.id, a1.id): POSSIBLE, (d1.id, a0.id): BELOW, (d2.id, a1.id): STRONG})
    proposal = roadshows.propose_presenters(session, object(), programme["show"])
    assert (proposal.demands, proposal.covered) == (3, 2)
    assert [p.achievement_id for p in proposal.presenters if p.covered] == [a1.id]
    live = roadshows.presenter_coverage(session, NoMemo(), programme["show"])
    assert {p.id: p.covered for p in proposal.presenters} == live.by_presenter


@pytest.mark.model
def test_invitation_suggestions_follow_the_band_floor(session, programme) -> None:
    (d0, d1, d2), (a0, a1) = programme["demands"], programme["achievements"]
    runtime = FakeRuntime({(a0.id, d0.id): BELOW, (a0.id, d1.id): POSSIBLE, (a1.id, d2.id): STRONG,
                           (a1.id, d0.id): bands.POSSIBLE_MIN - 0.1}, [d0, d1, d2])
    proposals = roadshows.propose_companies(session, runtime, programme["show"])
    assert [(p.demand.id, p.score) for p in proposals] == [(d2.id, STRONG), (d1.id, POSSIBLE)]
