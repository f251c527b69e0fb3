"""Keys derived from the site's one stored topology_key, one per purpose.

Kept apart from the kamailio renderer so that the audit can recognise every
form of a secret without reaching into a renderer's internals.
"""

from __future__ import annotations

import hashlib
import hmac

from voipctl.secrets import Secrets

# The purposes of the keys derived from topology_key (the dialog seal's inner and outer keys, topoh's
# mask, the salt of PostgreSQL's SCRAM verifiers).
DERIVED_KEYS = {"seal_inner": "voipctl dialog seal inner", "seal_outer": "voipctl dialog seal outer",
                "topoh": "voipctl topoh mask", "scram_salt": "voipctl postgresql scram salt"}


def derived_key(secrets: Secrets, purpose: str) -> str:
    """A key for one purpose derived from the site's topology_key (HMAC-SHA256, hex).

    One stored secret, independent keys: the dialog seal and topoh's mask never share one.
    """
    return hmac.new(secrets["topology_key"].encode(), purpose.encode(), hashlib.sha256).hexdigest()
