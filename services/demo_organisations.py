"""Demo organisation accounts (issue 21 part 3): the demo university's technology-transfer office gets two members
beside its manager (university@demo.example.cn), who see and edit the office's listings; the demo company gets a
colleague and a pending invitation. Accounts are added to the existing demo organisations; no listing changes."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ORG_MANAGER, ORG_MEMBER, OrganisationInvitation, User

from . import accounts, organisations

# (e-mail, display name, role in the organisation) per demo login whose organisation they join
MEMBERS = {
    "university": (("tto.zhao@demo.example.cn", "赵老师（技术转移中心）", ORG_MEMBER),
                   ("tto.qian@demo.example.cn", "钱老师（技术转移中心）", ORG_MEMBER)),
    "company": (("company.sun@demo.example.cn", "孙工（研发部）", ORG_MEMBER),),
}
PENDING = {"company": "company.li@demo.example.cn"}


def load(session: Session, managers: dict[str, User], password: str) -> int:
    """Add the members (once: an address that exists is left alone) and the pending invitation; returns how many
    accounts were added."""
    added = 0
    for key, rows in MEMBERS.items():
        manager = managers[key]
        if manager.org_role != ORG_MANAGER:
            manager.org_role = ORG_MANAGER
        for email, name, org_role in rows:
            if accounts.get_user_by_email(session, email) is not None:
                continue
            _, token = organisations.invite(session, manager, email, org_role)
            organisations.accept_new(session, token, display_name=name, password=password)
            added += 1
    for key, email in PENDING.items():
        manager = managers[key]
        if session.scalar(select(OrganisationInvitation.id).where(OrganisationInvitation.email == email)) is None:
            organisations.invite(session, manager, email)
    session.flush()
    return added
