"""Directories on a node that belong to the operating system, not to voipctl: one list for every stage.

Deploy gives each directory holding rendered files the owner and mode of its files
(deploy.hostvars.directories_for) and makes the sqlite DB's directory kamailio-owned
(the site refuses a DB placed directly in one of these). Re-owning any of these would
break the system: /tmp and /var/tmp are 1777, /root 0700, /run and /var/log are
written by every daemon, /etc/systemd/system holds every unit file.
"""

from __future__ import annotations

SYSTEM_DIRS = frozenset({
    "/", "/etc", "/etc/default", "/etc/systemd", "/etc/systemd/system", "/usr", "/usr/local", "/usr/local/etc",
    "/var", "/var/lib", "/var/cache", "/var/log", "/var/tmp", "/tmp", "/run", "/opt", "/srv", "/home",  # noqa: S108
    "/root",
})

# kamailio reads its configuration from here as user kamailio: deploy makes it root:kamailio 0750 (read-only
# to kamailio), so the DB, whose directory kamailio must be able to write, never goes directly in it.
KAMAILIO_CONFIG_DIR = "/etc/kamailio"


def holds_no_db(directory: str) -> bool:
    """Whether the sqlite DB may not sit directly in `directory` (deploy would make it kamailio-writable)."""
    return directory in SYSTEM_DIRS or directory == KAMAILIO_CONFIG_DIR
