"""indexes the statistics, the chain map and roadshow proposals need at scale

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


# the chain map counts the registered contracts linked to the listings placed on each node (services/chains.py
# node_stats): one indexed join per side instead of scanning every contract per placement
INDEXES = (("ix_tech_contracts_demand_id", "tech_contracts", ["demand_id"]),
           ("ix_tech_contracts_achievement_id", "tech_contracts", ["achievement_id"]),
           # the map's per-node listing counts read the chain's placements of one kind from this covering index
           # in node order (H8: 26 ms -> 3 ms per kind for one chain at 100k placements on SQLite)
           ("ix_chain_placements_chain_entity_node", "chain_placements",
            ["chain_id", "entity_type", "node_id", "entity_id", "source"]),
           # the contract statistics read a period's registered contracts from this covering index only (H8, 10k
           # contracts: by type / field / broker 5-15 ms -> 2-9 ms, by sub-region 41-87 ms -> 22-39 ms)
           ("ix_tech_contracts_stats", "tech_contracts",
            ["status", "signed_on", "seller_region_id", "buyer_region_id", "amount", "tech_amount", "category",
             "contract_type", "field_id", "broker_id"]))


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
