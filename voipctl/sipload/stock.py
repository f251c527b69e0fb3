"""Configuration B: Debian's stock kamailio.cfg with WITH_AUTH, WITH_NAT, WITH_RTPENGINE.

Nothing of the stock file is copied or changed: the differences that let it run on the bed
(sqlite DB URL and module, the site domain as alias, listen sockets, process counts, memory)
are kamailio command-line options. Its subscriber DB is created from the package's own sqlite
schema (/usr/share/kamailio/db_sqlite) with the same users and passwords as the site's; the
stock config computes HA1 from the plaintext password column (calculate_ha1 yes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from voipctl.errors import ToolError
from voipctl.plan.services import KamailioPlan
from voipctl.render.subscribers import digest_ha1

STOCK_CFG = "/etc/kamailio/kamailio.cfg"
STOCK_DEFINES = ("WITH_AUTH", "WITH_NAT", "WITH_RTPENGINE")
# kamailio.service's defaults (Environment=SHM_MEMORY=64, PKG_MEMORY=8): the package as shipped.
PACKAGE_MEMORY = ("-m", "64", "-M", "8")
SCHEMA_DIR = Path("/usr/share/kamailio/db_sqlite")
SCHEMA_FILES = ("standard-create.sql", "auth_db-create.sql")


def stock_argv(kam: KamailioPlan, db: Path, rundir: Path, memory: Sequence[str] = PACKAGE_MEMORY,
               cfg: str = STOCK_CFG) -> list[str]:
    """Foreground stock kamailio on the site's UDP/TCP sockets with the site's process counts."""
    defines = [x for name in STOCK_DEFINES for x in ("-A", name)]
    listen = [x for lst in kam.listeners if lst.proto in ("udp", "tcp")
              for x in ("-l", f"{lst.proto}:{lst.address}:{lst.port}")]
    return ["kamailio", "-DD", "-E", "-f", cfg, "-Y", str(rundir), *defines, "-A", f'DBURL="sqlite://{db}"',
            "--loadmodule=db_sqlite.so", f"--alias={kam.domain}", *listen, "-n", str(kam.children),
            "-N", str(kam.tcp_children), *memory]


def stock_db(path: Path, domain: str, users: Sequence[tuple[str, str]], schema_dir: Path = SCHEMA_DIR) -> None:
    """The stock schema's subscriber table with `users` (plaintext password, as the stock config reads it)."""
    missing = [name for name in SCHEMA_FILES if not (schema_dir / name).is_file()]
    if missing:
        raise ToolError(f"kamailio's sqlite schema is missing {', '.join(missing)} in {schema_dir} "
                        "(install kamailio-sqlite-modules)")
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        for name in SCHEMA_FILES:
            db.executescript((schema_dir / name).read_text())
        db.executemany(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)",
            [(u, domain, pw, digest_ha1(u, domain, pw), digest_ha1(f"{u}@{domain}", domain, pw)) for u, pw in users],
        )
        db.commit()
    finally:
        db.close()
    path.chmod(0o600)
