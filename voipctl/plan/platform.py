"""What a node's operating system release means for what voipctl renders, installs and checks.

Every fact that differs between Debian releases lives in this one table: the
plan copies a node's row into its NodePlan, and templates, roles, `check` and
the lab read it from there. Nothing else names a release.
"""

from __future__ import annotations

from dataclasses import dataclass

from voipctl.site.spec import PlatformName


@dataclass(frozen=True)
class Platform:
    """One Debian release as voipctl uses it (versions measured in that release's archive)."""

    name: PlatformName
    title: str
    suite: str  # debootstrap / apt suite of the lab image and of `check`'s root filesystem
    vagrant_box: str
    kamailio_version: str  # package pin prefix (apt's `=VERSION*`)
    rtpengine_version: str
    coturn_version: str
    postgresql_major: str  # the db node's server: names its package, cluster directory and unit
    kamailio_unit: str
    rtpengine_unit: str
    coturn_unit: str
    # kamailio tls.cfg `method` for each TLS floor this kamailio can enforce (5.6 has no TLSv1.3+).
    kamailio_tls_methods: tuple[tuple[str, str], ...]
    # kamailio >= 5.8's rtpengine module re-tests a disabled relay only from its ping timer
    # (modparam ping_interval, default 60 s), never while routing: the timer must carry
    # the recheck delay. 5.6 has no timer and retries after rtpengine_disable_tout.
    kamailio_rtpengine_ping_timer: bool
    # kamailio adds a=group:BUNDLE to single-media SDP for WebRTC recipients (route BUNDLE),
    # which rtpengine < 14 never writes: browsers with bundlePolicy "max-bundle" then work.
    # Proven on the debian13 lab; debian12 keeps its measured behaviour ("balanced" only).
    kamailio_bundle_single_media: bool
    # kamailio 5.6 + OpenSSL 3 shares OpenSSL's per-thread error state (in shm) between its forked TCP
    # readers: concurrent failing handshakes corrupt it and crash kamailio (issues #3695/#3791; cured in
    # 5.8+ by tls_threads_mode, in 6.0 by default). One TCP reader for TLS/WSS stops it (measured:
    # tests/daemon/test_tls_burst_daemon.py); plain TCP/WS keep their own readers.
    kamailio_tls_one_reader: bool
    # The same shared OpenSSL state meets libpq: kamailio's children all open their PostgreSQL
    # connections at start, and with SSL (libpq's default `prefer`) a child died now and then and
    # the unit's start hung (lab, cloud example: 2 starts in 12 hung; with PGSSLMODE=disable 0 in 12).
    # False: kamailio reaches the site's own db node (private network, SCRAM logins) without SSL.
    kamailio_libpq_ssl: bool

    def pin(self, service: str) -> str | None:
        """The apt version prefix deploy pins `service`'s packages to (None: not pinned by platform)."""
        return {"kamailio": self.kamailio_version, "rtpengine": self.rtpengine_version,
                "coturn": self.coturn_version, "postgresql": f"{self.postgresql_major}."}.get(service)

    @property
    def daemons(self) -> str:
        return (f"kamailio {self.kamailio_version.rstrip('-')}, rtpengine {self.rtpengine_version.rstrip('-')}, "
                f"coturn {self.coturn_version.rstrip('-')}")


PLATFORMS: dict[PlatformName, Platform] = {
    "debian12": Platform(
        name="debian12", title="Debian 12 (bookworm)", suite="bookworm", vagrant_box="debian/bookworm64",
        kamailio_version="5.6.3-", rtpengine_version="10.5.3.5-", coturn_version="4.6.1-", postgresql_major="15",
        kamailio_unit="kamailio.service", rtpengine_unit="rtpengine-daemon.service", coturn_unit="coturn.service",
        kamailio_tls_methods=(("TLSv1.2", "TLSv1.2+"),), kamailio_rtpengine_ping_timer=False,
        kamailio_bundle_single_media=False, kamailio_tls_one_reader=True, kamailio_libpq_ssl=False,
    ),
    "debian13": Platform(
        name="debian13", title="Debian 13 (trixie)", suite="trixie", vagrant_box="debian/trixie64",
        kamailio_version="6.0.1-", rtpengine_version="12.5.1.31-", coturn_version="4.6.1-", postgresql_major="17",
        kamailio_unit="kamailio.service", rtpengine_unit="rtpengine-daemon.service", coturn_unit="coturn.service",
        kamailio_tls_methods=(("TLSv1.2", "TLSv1.2+"), ("TLSv1.3", "TLSv1.3+")), kamailio_rtpengine_ping_timer=True,
        kamailio_bundle_single_media=True, kamailio_tls_one_reader=False, kamailio_libpq_ssl=True,
    ),
}
