"""The usrloc `location` table in the subscriber SQL: registrations kept in the site's DB.

Why: with usrloc in memory only, every restart (deploy, rollback, certificate
renewal) logged every phone out until it re-registered. The columns follow
kamailio 5.6's own usrloc-create.sql (table version 9) for each dialect.
"""

from __future__ import annotations

from typing import Any

LOCATION_VERSION = ("location", 9)

# (name, columns) of the indexes usrloc's own schema creates; `location_ruid_idx` is the UNIQUE constraint.
_INDEXES = (
    ("location_account_contact_idx", "username, domain, contact"),
    ("location_expires_idx", "expires"),
    ("location_tcpcon_idx", "connection_id"),
    ("location_connection_idx", "server_id, connection_id"),
)


def location_context(backend: str) -> dict[str, Any]:
    """Dialect bits of the location table: column types, the reserved word `partition`, the indexes."""
    if backend == "mysql":
        return {
            "datetime_type": "DATETIME",
            "real_type": "FLOAT(10,2)",
            "partition_column": "`partition`",
            "location_inline_indexes": "".join(f",\n    KEY {name} ({cols})" for name, cols in _INDEXES),
            "location_indexes": (),
        }
    return {
        "datetime_type": "TIMESTAMP WITHOUT TIME ZONE",
        "real_type": "REAL",
        "partition_column": "partition",
        "location_inline_indexes": "",
        "location_indexes": tuple(f"CREATE INDEX IF NOT EXISTS {name} ON location ({cols})" for name, cols in _INDEXES),
    }
