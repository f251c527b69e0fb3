"""The subscriber SQL of one kamailio node: the subscriber table (digest HA1s) and usrloc's location table.

Each dialect is one template (templates/kamailio/sql/<backend>.sql.j2 on a shared
layout); this module only picks it and computes the rows. Only digest hashes are
written, never a password. The location table keeps registrations in the site DB
(usrloc db_mode 2), so a restart logs nobody out; its columns follow kamailio 5.6's
own usrloc-create.sql for each dialect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from voipctl.errors import RenderError
from voipctl.plan.model import Plan
from voipctl.plan.services import KamailioPlan
from voipctl.render.engine import provenance, render_shared
from voipctl.secrets import Secrets

# Table versions auth_db and usrloc of kamailio 5.6 check at startup (see
# /usr/share/kamailio/*/standard-create.sql, auth_db-create.sql, usrloc-create.sql).
TABLE_VERSIONS: tuple[tuple[str, int], ...] = (("version", 1), ("subscriber", 7), ("location", 9))


@dataclass(frozen=True)
class SubscriberRow:
    username: str
    domain: str
    ha1: str
    ha1b: str


def digest_ha1(user: str, realm: str, password: str) -> str:
    """HA1 as RFC 2617 defines it; kamailio compares against this, never the password."""
    return hashlib.md5(f"{user}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def _sql_str(value: str) -> str:
    if "\\" in value or "\x00" in value:
        raise RenderError(f"value {value!r} cannot be written into SQL")
    return value.replace("'", "''")


def subscriber_rows(plan: Plan, kam: KamailioPlan, secrets: Secrets) -> tuple[SubscriberRow, ...]:
    rows = []
    for user in plan.subscribers:
        password = secrets.subscriber(user)
        rows.append(
            SubscriberRow(
                username=_sql_str(user),
                domain=_sql_str(kam.domain),
                ha1=digest_ha1(user, kam.domain, password),
                ha1b=digest_ha1(f"{user}@{kam.domain}", kam.domain, password),
            )
        )
    return tuple(rows)


def subscriber_sql(plan: Plan, kam: KamailioPlan, secrets: Secrets) -> bytes:
    """The SQL file in the site DB's dialect (sqlite, postgres or mysql).

    The same on every sip node of a site and two MD5s per subscriber: rendered once per content
    (a 50-node cluster with 10,000 subscribers would otherwise hash a million times).
    """
    backend = kam.db.backend
    key = (plan.site, plan.model_hash, backend, kam.domain, secrets.fingerprint)
    return render_shared(key, f"kamailio/sql/{backend}.sql.j2", lambda: {
        "header": provenance("--", plan.site, plan.model_hash),
        "backend": backend,
        "realm": kam.domain,
        "domain": _sql_str(kam.domain),
        "rows": subscriber_rows(plan, kam, secrets),
        "table_versions": TABLE_VERSIONS,
    })
