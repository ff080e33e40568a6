"""Accounts (issue 18): password strength, registration's organisation, server-side sessions, reset links."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Organisation, PasswordReset, User, UserSession, utcnow
from services import accounts
from services.errors import ServiceError
from tests.conftest import PASSWORD

REGISTRATION = dict(password="seven quiet lanterns drifting", display_name="王五", role="company",
                    org_name="西安测试科技有限公司", region="shaanxi")


@pytest.mark.parametrize("weak", ["bbbbbbbbbb", "a1a1a1a1a1", "qwertyuiop", "1q2w3e4r5t", "19900101abc",
                                  "Password2026!"])
def test_easily_guessed_passwords_are_refused(weak):
    with pytest.raises(ServiceError) as err:
        accounts.check_password_rules(weak, "someone@example.com")
    assert err.value.code == "account.password_common"


@pytest.mark.parametrize("good", ["correct-horse-battery", "seven quiet lanterns drifting", "秦川电池2026研发部门",
                                  "Tr0ub4dor&3-plus"])
def test_passphrases_pass_without_composition_rules(good):
    accounts.check_password_rules(good, "someone@example.com")


def test_the_users_own_name_and_address_count_as_guessable():
    accounts.check_password_rules("zhangweiqiang88", "someone@example.com")  # unrelated to this user: fine
    with pytest.raises(ServiceError):
        accounts.check_password_rules("zhangweiqiang88", "zhangweiqiang@example.com")
    with pytest.raises(ServiceError):
        accounts.check_password_rules("zhangweiqiang88", "someone@example.com", context=("zhangweiqiang",))


def test_a_long_password_is_judged_on_its_start_and_never_crashes():
    accounts.check_password_rules("seven quiet lanterns drifting " * 6, "someone@example.com")  # 180 characters
    with pytest.raises(ServiceError):
        accounts.check_password_rules("b" * 150, "someone@example.com")


def test_every_account_creation_checks_strength(session):
    with pytest.raises(ServiceError):  # the path admins and `flask users create` take
        accounts.create_user(session, email="b@example.com", password="a1a1a1a1a1", display_name="b", role="broker")
    with pytest.raises(ServiceError):
        accounts.register(session, email="c@example.com", **dict(REGISTRATION, password="bbbbbbbbbb"))


def test_registration_always_creates_a_new_unverified_organisation(session, make_user):
    existing = make_user("company", org=REGISTRATION["org_name"])
    first = accounts.register(session, email="a@example.com", **REGISTRATION)
    second = accounts.register(session, email="b@example.com", **REGISTRATION)
    session.commit()
    ids = {existing.organisation_id, first.organisation_id, second.organisation_id}
    assert len(ids) == 3
    assert first.organisation.verified is False and first.organisation.name == REGISTRATION["org_name"]
    assert session.scalar(select(func.count()).select_from(Organisation)
                          .where(Organisation.name == REGISTRATION["org_name"])) == 3


def test_a_refused_registration_leaves_no_organisation(session, make_user):
    make_user("company", email="taken@example.com")
    before = session.scalar(select(func.count()).select_from(Organisation))
    with pytest.raises(ServiceError):
        accounts.register(session, email="taken@example.com", **REGISTRATION)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Organisation)) == before


def _signed_in(session, user) -> str:
    accounts.start_session(session, user, max_age_hours=12)
    session.commit()
    return user.get_id()


def test_ending_one_session_keeps_the_others(session, make_user):
    user = make_user("company")
    first, second = _signed_in(session, user), _signed_in(session, user)
    assert accounts.load_session_user(session, first).id == user.id
    user.session_key = first.rsplit(":", 1)[1]
    accounts.end_session(session, user)
    session.commit()
    assert accounts.load_session_user(session, first) is None
    assert accounts.load_session_user(session, second).id == user.id


def test_only_a_hash_of_the_session_token_is_stored(session, make_user):
    user = make_user("company")
    token = _signed_in(session, user).rsplit(":", 1)[1]
    (row,) = session.scalars(select(UserSession).where(UserSession.user_id == user.id))
    assert row.token_hash == accounts.session_digest(token) and token not in row.token_hash


@pytest.mark.parametrize("session_id", ["", "1", "1:1", "1:1:", "x:1:abc", "1:y:abc", "1:1:" + "a" * 200])
def test_malformed_session_ids_are_refused(session, session_id):
    assert accounts.load_session_user(session, session_id) is None


def test_ending_every_session_removes_them_all(session, make_user):
    user = make_user("company")
    ids = [_signed_in(session, user) for _ in range(3)]
    accounts.end_sessions(session, user)
    session.commit()
    assert all(accounts.load_session_user(session, i) is None for i in ids)
    assert session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)) == 0


def test_old_and_surplus_sessions_are_pruned_at_sign_in(session, make_user):
    user = make_user("company")
    stale = _signed_in(session, user)
    session.scalar(select(UserSession).where(UserSession.user_id == user.id)).created_at = \
        utcnow() - timedelta(hours=13)
    session.commit()
    ids = [_signed_in(session, user) for _ in range(accounts.MAX_LIVE_SESSIONS + 2)]
    assert accounts.load_session_user(session, stale) is None
    assert session.scalar(select(func.count()).select_from(UserSession)
                          .where(UserSession.user_id == user.id)) == accounts.MAX_LIVE_SESSIONS
    assert accounts.load_session_user(session, ids[0]) is None and accounts.load_session_user(session, ids[-1])


def test_a_reset_request_for_an_unknown_address_makes_nothing(session):
    assert accounts.request_password_reset(session, "nobody@example.com", ttl_minutes=60) is None
    session.commit()
    assert session.scalar(select(func.count()).select_from(PasswordReset)) == 0


def test_a_reset_link_works_once_and_ends_every_session(session, make_user):
    user = make_user("company")
    signed_in = _signed_in(session, user)
    reset = accounts.request_password_reset(session, user.email, ttl_minutes=60)
    _, token = accounts.issue_reset_token(session, reset.id)
    session.commit()
    found = accounts.find_password_reset(session, token)
    accounts.reset_password(session, found, "seven quiet lanterns drifting")
    session.commit()
    assert accounts.find_password_reset(session, token) is None
    assert accounts.issue_reset_token(session, reset.id) is None
    assert accounts.load_session_user(session, signed_in) is None
    assert accounts.check_password(session.get(User, user.id), "seven quiet lanterns drifting")
    assert not accounts.check_password(session.get(User, user.id), PASSWORD)


def test_a_weak_new_password_leaves_the_link_open(session, make_user):
    user = make_user("company")
    reset = accounts.request_password_reset(session, user.email, ttl_minutes=60)
    _, token = accounts.issue_reset_token(session, reset.id)
    session.commit()
    with pytest.raises(ServiceError):
        accounts.reset_password(session, accounts.find_password_reset(session, token), "a1a1a1a1a1")
    session.rollback()
    assert accounts.find_password_reset(session, token) is not None


def test_an_expired_link_is_refused(session, make_user):
    user = make_user("company")
    reset = accounts.request_password_reset(session, user.email, ttl_minutes=60)
    _, token = accounts.issue_reset_token(session, reset.id)
    reset.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    assert accounts.find_password_reset(session, token) is None
    assert accounts.issue_reset_token(session, reset.id) is None  # a late mail job sends nothing


def test_one_link_used_twice_at_once_changes_the_password_once(app, session, make_user):
    from web.db import sessionmaker_for
    user = make_user("company")
    reset = accounts.request_password_reset(session, user.email, ttl_minutes=60)
    _, token = accounts.issue_reset_token(session, reset.id)
    session.commit()
    with sessionmaker_for(app)() as other:
        stale = accounts.find_password_reset(other, token)  # the second tab read the link while it was open
        other.commit()
        accounts.reset_password(session, accounts.find_password_reset(session, token), "seven quiet lanterns drifting")
        session.commit()
        with pytest.raises(ServiceError) as err:
            accounts.reset_password(other, stale, "another fine passphrase")
        assert err.value.code == "account.reset_used"
        other.rollback()
    session.expire_all()
    assert accounts.check_password(session.get(User, user.id), "seven quiet lanterns drifting")
