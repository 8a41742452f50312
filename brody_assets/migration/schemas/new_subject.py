"""New-layer (L2) ``subject`` schema: rats and their audit history.

Spec §2.11-2.12. MySQL schema ``<new_prefix>subject`` (default ``bl_new_subject``).

RatHistory key (spec §2.12 asks for one explicit choice): the legacy audit log ``rat_history``
is keyed here by ``rathistory_id`` int(10) **equal to the legacy ``internalID``** — not the
deployed (ratname, logtime) key, on which 1,411 legacy pairs collide, and not the HEAD-source
AUTO_INCREMENT surrogate, which the migration would never use (values always come from legacy).
``ratname`` (-> Rats) and ``user_id`` (-> Contacts) are secondary foreign keys; the remaining
columns are the shadow's (free ... ignored_by_watermeister, same types and defaults). The
comma-separated legacy ``contact`` is split into the part ``RatHistory.Contact`` keyed
(rathistory_id, contact). Because the id *is* the legacy id, no ``rathistory_old_id`` is kept.
"""

import datajoint as dj

from . import new_lab as lab  # noqa: F401  (used in definitions)

schema = dj.Schema()


@schema
class Rats(dj.Manual):
    """One row per rat, keyed by rat name; legacy ``rats``."""

    definition = """
    ratname                 : varchar(8)
    ---
    -> lab.Contacts                           # owner, resolved from legacy experimenter
    rats_old_id             : int(10)         # legacy internalID
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
        """One row per netID listed in the legacy comma-separated ``rats.contact``."""

        definition = """
        -> master
        contact                 : varchar(40)
        """


@schema
class RatHistory(dj.Manual):
    """Audit log of edits to ``rats`` (legacy ``rat_history``), keyed by the legacy internalID."""

    definition = """
    rathistory_id           : int(10)         # equal to legacy rat_history.internalID
    ---
    -> Rats
    -> lab.Contacts
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
        """One row per netID listed in the legacy comma-separated ``rat_history.contact``."""

        definition = """
        -> master
        contact                 : varchar(40)
        """
