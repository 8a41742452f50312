"""Shadow-layer (L1) ``acquisition`` schema (spec §2.17-2.20); conventions as in ``shadow_lab``.

``SessionProtocolData`` and ``ParsedEvents`` are keyed by the legacy ``sessions.sessid`` (their
upstream key source is legacy ``sessions``). There is no shadow ``BehaviorEvent``.
"""

import datajoint as dj

from . import new_acquisition as new
from .derive import shadow_definition

schema = dj.Schema()


@schema
class SessStarted(dj.Computed):
    definition = shadow_definition(new.SessStarted, "sessid : int(11)  # legacy sessid")


@schema
class Sessions(dj.Computed):
    definition = shadow_definition(new.Sessions, "sessid : int(11)  # legacy sessid")


@schema
class SessionProtocolData(dj.Computed):
    definition = shadow_definition(
        new.SessionProtocolData,
        "sessid : int(11)  # legacy sessions.sessid",
    )


@schema
class ParsedEvents(dj.Computed):
    definition = shadow_definition(new.ParsedEvents, "sessid : int(11)  # legacy sessions.sessid")
