"""Shadow-layer (L1) ``subject`` schema (spec §2.11-2.12); conventions as in ``shadow_lab``.

The part tables carry no reference to their master (spec), so a contact row can exist for a rat
whose master row was not transformed. ``RatHistory.Contact`` is keyed like the new part,
(rathistory_id, contact), following the new table's key choice (see ``new_subject``).
"""

import datajoint as dj

schema = dj.Schema()


@schema
class Rats(dj.Computed):
    definition = """
    rats_old_id             : int(10) unsigned  # legacy internalID
    ---
    ratname                 : varchar(8)
    user_id                 : varchar(32)
    free=0                  : tinyint(1)
    comments=null           : varchar(500)
    vendor='Taconic'        : varchar(40)
    waterperday=30          : decimal(3,1)
    recovering=0            : tinyint(1)
    deliverydate=null       : date
    extant=0                : tinyint(4)
    cagemate=null           : varchar(4)
    force_free_water=0      : tinyint(3)
    date_sac=null           : date
    force_dep_water=0       : tinyint(3)
    larid=null              : int(10)
    israt=1                 : tinyint(1)
    """

    class Contact(dj.Part):
        definition = """
        contact                 : varchar(40)
        ratname                 : varchar(8)
        """


@schema
class RatHistory(dj.Computed):
    definition = """
    rathistory_old_id       : int(10) unsigned  # legacy internalID
    ---
    rathistory_id           : int(10)         # new key: the same value as rathistory_old_id
    ratname                 : varchar(8)
    user_id                 : varchar(32)
    logtime=CURRENT_TIMESTAMP : timestamp
    free=0                  : tinyint(1)
    alert=0                 : tinyint(1)
    training=0              : tinyint(1)
    comments=null           : varchar(500)
    waterperday=30          : int(11)
    recovering=0            : tinyint(1)
    extant=0                : tinyint(4)
    cagemate=null           : varchar(4)
    force_free_water=0      : tinyint(3)
    date_sac=null           : date
    force_dep_water=0       : tinyint(3)
    bring_up_at=0           : tinyint(1)
    bringupday=null         : varchar(7)
    ignored_by_watermeister=0 : tinyint(1)
    """

    class Contact(dj.Part):
        definition = """
        rathistory_id           : int(10)
        contact                 : varchar(40)
        """
