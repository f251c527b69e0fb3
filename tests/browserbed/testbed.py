"""`Bed`: network, site and daemons for one browser-probe run, removed completely on exit."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from tests.browserbed.daemons import Daemons
from tests.browserbed.network import BedNames, bring_up, new_names, tear_down
from voipctl.check.staged_site import StagedSite, stage_site
from voipctl.lab.topology import LabAddresses
from voipctl.verify.browser.vantage import BrowserVantage


class Bed:
    """Everything the browser scenario needs, made from `site_file` in namespaces named `<prefix>-<pid>-*`."""

    def __init__(self, site_file: Path, prefix: str = "vb", keep_dir: Path | None = None) -> None:
        self.site_file = site_file
        self.names: BedNames = new_names(prefix)
        self._keep = keep_dir
        self.workdir = Path(tempfile.mkdtemp(prefix="voipctl-bed-"))
        self.site: StagedSite | None = None
        self.addresses: LabAddresses | None = None
        self.daemons: Daemons | None = None

    def __enter__(self) -> Bed:
        try:
            self.site = stage_site(self.site_file, self.workdir)
            self.addresses = bring_up(self.names, self.site.plan)
            logs = self.workdir / "logs"
            logs.mkdir()
            self.daemons = Daemons(self.names.ns("srv"), self.site, logs)
            self.daemons.start_all()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def vantage(self) -> BrowserVantage:
        if self.site is None or self.addresses is None:
            raise RuntimeError("the bed is not up")
        srv = self.names.ns("srv")
        return BrowserVantage(
            browser_netns=self.names.ns("nat"),
            phone_netns=self.names.ns("pub"),
            phone_address=self.addresses.public_client,
            node_netns={n.name: srv for n in self.site.plan.nodes},
            map_site_names=True,
        )

    def close(self) -> None:
        if self.daemons is not None:
            self.daemons.stop_all()
        tear_down(self.names)
        if self._keep is not None and self.workdir.exists():
            shutil.copytree(self.workdir / "logs", self._keep, dirs_exist_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
