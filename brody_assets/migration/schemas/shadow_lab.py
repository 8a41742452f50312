"""Shadow-layer (L1) ``lab`` schema: legacy rows already transformed to the new columns.

Spec §1.2, §2.0b, §2.1-2.6. MySQL schema ``<shadow_prefix>lab`` (default ``bl_shadow_lab``).
Every shadow table is Computed (MySQL name ``__<table>``) and keyed by the **legacy** primary key,
renamed as in §2.0b but keeping the legacy column type; its secondary attributes are every column
of the new table, new-table key columns included. Shadow tables have no foreign keys and no
``make``: the migration engine fills them with SQL.
"""

import datajoint as dj

schema = dj.Schema()


@schema
class Contacts(dj.Computed):
    definition = """
    contacts_old_id         : int(11)         # legacy contactid
    ---
    user_id                 : varchar(32)
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
    full_name=null          : varchar(60)
    tech_overnight=0        : tinyint(1)
    tag_rgb=null            : char(12)
    tech_shifts             : varchar(45)
    phone_carrier=null      : varchar(15)
    """


@schema
class Riginfo(dj.Computed):
    definition = """
    rigid                   : int(3) unsigned # legacy rigid
    ---
    rigname                 : varchar(32)
    ip_addr=''              : char(15)
    mac_addr=''             : char(12)
    rtfsm_ip=null           : char(15)
    hostname=null           : varchar(50)
    comptype=''             : char(50)
    """


@schema
class TrainingRoom(dj.Computed):
    definition = """
    tower                   : int(10) unsigned  # legacy tower
    ---
    top=null                : char(50)
    middle=null             : char(50)
    bottom=null             : char(50)
    """


@schema
class Rigflush(dj.Computed):
    definition = """
    rigflush_old_id         : int(10) unsigned  # legacy id
    ---
    rigid                   : int(3)
    rigflush_date           : datetime
    wasflushed              : tinyint(3)
    """


@schema
class Rigfood(dj.Computed):
    definition = """
    rigfood_id              : int(10) unsigned  # legacy rigfoodid
    ---
    rigid                   : int(3)
    rigfood_datetime        : datetime
    """


@schema
class RigMaintenance(dj.Computed):
    definition = """
    rig_maintenance_id      : int(10) unsigned  # legacy maintenance_id
    ---
    rigid                   : int(3)
    rig_fix_date=null       : datetime
    rig_maintenance_note    : varchar(500)
    isbroken                : tinyint(3)
    broke_person            : varchar(45)
    fix_person              : varchar(45)
    broke_date=null         : datetime
    rig_maintenance_fix_note : varchar(500)
    """
