"""New-layer (L2) ``lab`` schema: people, rigs and rig upkeep.

Spec §2.1-2.6. MySQL schema ``<new_prefix>lab`` (default ``bl_new_lab``). Tables are Manual: the
migration engine fills them from the shadow layer with set-difference ``INSERT ... SELECT``.
Declared here, bound to a database only by :func:`brody_assets.migration.schemas.activate`.
"""

import datajoint as dj

schema = dj.Schema()


@schema
class Contacts(dj.Manual):
    """Lab members, keyed by PNI netID (the part of the email before '@'); legacy ``contacts``."""

    definition = """
    user_id                 : varchar(32)     # netID derived from the email
    ---
    contacts_old_id         : int(11)         # legacy contactid
    experimenter            : varchar(32)
    email=null              : varchar(150)
    initials=null           : varchar(5)
    telephone=null          : bigint(20)
    tag_letter=null         : varchar(1)
    lab_manager=0           : tinyint(1)
    subscribe_all=0         : tinyint(1)
    tech_morning=0          : tinyint(1)
    tech_afternoon=0        : tinyint(1)
    tech_computer=0         : tinyint(1)
    is_alumni=0             : tinyint(1)
    full_name=null          : varchar(60)     # legacy FullName
    tech_overnight=0        : tinyint(1)
    tag_rgb=null            : char(12)        # legacy tag_RGB
    tech_shifts             : varchar(45)
    phone_carrier=null      : varchar(15)
    """


@schema
class Riginfo(dj.Manual):
    """Behaviour rigs; legacy ``riginfo``."""

    definition = """
    rigid                   : int(3)
    ---
    rigname                 : varchar(32)     # no legacy source: always ''
    ip_addr=''              : char(15)
    mac_addr=''             : char(12)
    rtfsm_ip=null           : char(15)
    hostname=null           : varchar(50)
    comptype=''             : char(50)
    """


@schema
class TrainingRoom(dj.Manual):
    """Which rigs sit on which tower shelf; legacy ``training_room``."""

    definition = """
    tower                   : int(10)
    ---
    top=null                : char(50)
    middle=null             : char(50)
    bottom=null             : char(50)
    """


@schema
class Rigflush(dj.Manual):
    """Rig water-line flushes, one per rig and day; legacy ``rigflush``."""

    definition = """
    -> Riginfo
    rigflush_date           : datetime        # legacy dateval (DATE) at midnight
    ---
    rigflush_old_id         : int(10)         # legacy id
    wasflushed              : tinyint(3)
    """


@schema
class Rigfood(dj.Manual):
    """Food-pellet refills per rig; legacy ``rigfood``."""

    definition = """
    rigfood_id              : int(10)         # legacy rigfoodid
    ---
    -> Riginfo
    rigfood_datetime        : datetime        # legacy datetime
    """


@schema
class RigMaintenance(dj.Manual):
    """Rig breakdowns and repairs; legacy ``rig_maintenance``."""

    definition = """
    rig_maintenance_id      : int(10)         # legacy maintenance_id
    ---
    -> Riginfo
    rig_fix_date=null       : datetime        # legacy fix_date; NULL when zero
    rig_maintenance_note    : varchar(500)    # legacy note (TEXT)
    isbroken                : tinyint(3)
    broke_person            : varchar(45)     # free text
    fix_person              : varchar(45)     # free text
    broke_date=null         : datetime        # NULL when zero
    rig_maintenance_fix_note : varchar(500)   # legacy fix_note (TEXT)
    """
