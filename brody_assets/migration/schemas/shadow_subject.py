"""Shadow-layer (L1) ``subject`` schema (spec §2.11-2.12); conventions as in ``shadow_lab``.

The part tables carry no reference to their master (spec), so a contact row can exist for a rat
whose master row was not transformed. ``RatHistory.Contact`` is keyed like the new part,
(rathistory_id, contact), following the new table's key choice (see ``new_subject``).
"""

import datajoint as dj

from . import new_subject as new
from .derive import shadow_definition

schema = dj.Schema()


@schema
class Rats(dj.Computed):
    definition = shadow_definition(new.Rats, "rats_old_id : int(10) unsigned  # legacy internalID")

    class Contact(dj.Part):
        definition = """
        contact                 : varchar(40)
        ratname                 : varchar(8)
        """


@schema
class RatHistory(dj.Computed):
    definition = shadow_definition(
        new.RatHistory,
        "rathistory_old_id : int(10) unsigned  # legacy internalID",
    )

    class Contact(dj.Part):
        definition = """
        rathistory_id           : int(10)
        contact                 : varchar(40)
        """
