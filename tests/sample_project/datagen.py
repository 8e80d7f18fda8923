"""Accounts, and events spread over the first of them and a year, generated server-side."""

from harness.datagen import SeedContext
from harness.project import Bound

VERSION = "2"
# Most accounts have no events: the account table is large enough that reading it without
# its email index is a Seq Scan the checks notice.
ACCOUNTS_PER_ACTIVE = 100

ACCOUNTS = """
INSERT INTO accounts (id, email)
SELECT i, 'user' || i || '@example.com' FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
"""
PARAMETERS = {"events": Bound(10, 10_000_000), "accounts": Bound(1, 10_000)}

SQL = """
INSERT INTO events (id, account_id, kind, created_at)
SELECT i, 1 + floor(pg_temp.ph_random(i, 1) ^ 2 * %(accounts)s)::int,
       (ARRAY['open', 'click', 'close'])[1 + floor(pg_temp.ph_random(i, 2) * 3)::int],
       timestamptz '2024-01-01' + pg_temp.ph_random(i, 3) * interval '365 days'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i
"""


def generate(ctx: SeedContext) -> None:
    ctx.insert_generated("accounts", ACCOUNTS, int(ctx.data["accounts"]) * ACCOUNTS_PER_ACTIVE)
    ctx.insert_generated("events", SQL, int(ctx.data["events"]),
                         {"accounts": int(ctx.data["accounts"])})
