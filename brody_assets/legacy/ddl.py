"""Legacy table definitions (spec §2), kept as data: the lab's production DDL.

Lab knowledge, like :mod:`.catalog`: the legacy assets' column schemas come from here
(:mod:`.columns`), and the demo generator (:mod:`brody_assets.demo.legacy`) creates its tables
from it.

``LEGACY_TABLES_DDL`` maps ``"<schema>.<table>"`` (schema without the test
prefix: ``ratinfo`` or ``bdata``) to the ``CREATE TABLE`` statement of that
legacy table, with ``{schema}`` standing for the prefixed schema name.  The
statements reproduce the production DDL (column names, order, types including
UNSIGNED / ZEROFILL / FLOAT(2,2) / ENUM / blobs, nullability, defaults, keys
and the per-table character set), except that ``mass.mass`` carries its real
name (spec §1.1, problem 27).
"""

from __future__ import annotations

LEGACY_SCHEMAS: tuple[str, ...] = ("bdata", "ratinfo", "protocol")
"""Legacy schemas created by the generator (``protocol`` stays empty)."""

LEGACY_TABLES_DDL: dict[str, str] = {
    "ratinfo.contacts": """
CREATE TABLE `{schema}`.`contacts` (
  `experimenter` VARCHAR(30) NOT NULL DEFAULT 'unnamed',
  `email` VARCHAR(150) NULL DEFAULT NULL,
  `initials` VARCHAR(5) NULL DEFAULT NULL,
  `telephone` BIGINT(20) UNSIGNED NULL DEFAULT NULL,
  `tag_letter` VARCHAR(1) NULL DEFAULT NULL,
  `tag_RGB_old` TINYBLOB NULL DEFAULT NULL,
  `lab_manager` TINYINT(1) NULL DEFAULT '0',
  `subscribe_all` TINYINT(1) NULL DEFAULT '0',
  `tech_morning` TINYINT(1) NULL DEFAULT '0',
  `tech_afternoon` TINYINT(1) NULL DEFAULT '0',
  `tech_computer` TINYINT(1) UNSIGNED NULL DEFAULT '0',
  `is_alumni` TINYINT(1) NOT NULL,
  `custom_rig_order` VARCHAR(128) NULL DEFAULT NULL,
  `FullName` VARCHAR(60) NULL DEFAULT NULL,
  `tech_overnight` TINYINT(1) UNSIGNED ZEROFILL NULL DEFAULT '0',
  `tag_RGB` CHAR(12) NULL DEFAULT NULL,
  `tech_shifts` VARCHAR(45) NOT NULL,
  `phone_carrier` VARCHAR(15) NULL DEFAULT NULL,
  `contactid` INT(11) NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`contactid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "ratinfo.riginfo": """
CREATE TABLE `{schema}`.`riginfo` (
  `rigid` INT(3) UNSIGNED NOT NULL,
  `ip_addr` CHAR(15) NOT NULL DEFAULT '',
  `mac_addr` CHAR(12) NULL DEFAULT '',
  `rtfsm_ip` CHAR(15) NULL DEFAULT NULL,
  `hostname` VARCHAR(50) NULL DEFAULT NULL,
  `is_linux` INT(1) NULL DEFAULT NULL,
  `video_server` CHAR(15) NULL DEFAULT NULL,
  `comptype` CHAR(50) NULL DEFAULT '',
  PRIMARY KEY (`rigid`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.training_room": """
CREATE TABLE `{schema}`.`training_room` (
  `tower` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `top` CHAR(50) NULL DEFAULT NULL,
  `middle` CHAR(50) NULL DEFAULT NULL,
  `bottom` CHAR(50) NULL DEFAULT NULL,
  PRIMARY KEY (`tower`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.rigflush": """
CREATE TABLE `{schema}`.`rigflush` (
  `id` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `rig` INT(10) UNSIGNED NOT NULL,
  `wasflushed` TINYINT(3) UNSIGNED ZEROFILL NOT NULL,
  `dateval` DATE NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.rigfood": """
CREATE TABLE `{schema}`.`rigfood` (
  `rigfoodid` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `rigid` TINYINT(3) UNSIGNED NOT NULL DEFAULT '0',
  `datetime` DATETIME NOT NULL DEFAULT '1000-01-01 00:00:00',
  PRIMARY KEY (`rigfoodid`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.rig_maintenance": """
CREATE TABLE `{schema}`.`rig_maintenance` (
  `maintenance_id` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `rigid` INT(10) UNSIGNED NOT NULL,
  `note` TEXT NOT NULL,
  `isbroken` TINYINT(3) UNSIGNED NOT NULL,
  `broke_person` VARCHAR(45) NOT NULL,
  `fix_person` VARCHAR(45) NOT NULL,
  `broke_date` DATETIME NOT NULL,
  `fix_date` DATETIME NOT NULL,
  `fix_note` TEXT NOT NULL,
  PRIMARY KEY (`maintenance_id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.tech_schedule": """
CREATE TABLE `{schema}`.`tech_schedule` (
  `date` DATE NOT NULL,
  `day` VARCHAR(45) NOT NULL,
  `overnight` VARCHAR(200) NOT NULL,
  `scheduleid` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `morning` VARCHAR(200) NOT NULL,
  `evening` VARCHAR(200) NOT NULL,
  PRIMARY KEY (`scheduleid`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.technotes": """
CREATE TABLE `{schema}`.`technotes` (
  `technoteid` INT(11) UNSIGNED NOT NULL AUTO_INCREMENT,
  `datestr` DATE NULL DEFAULT NULL,
  `timestr` TIME NULL DEFAULT NULL,
  `ratname` CHAR(6) NULL DEFAULT NULL,
  `rigid` SMALLINT(5) UNSIGNED NULL DEFAULT NULL,
  `timeslot` TINYINT(1) UNSIGNED NULL DEFAULT NULL,
  `experimenter` VARCHAR(30) NULL DEFAULT NULL,
  `techinitials` CHAR(4) NULL DEFAULT NULL,
  `note` TEXT NOT NULL,
  `flag` INT(3) NULL DEFAULT NULL,
  PRIMARY KEY (`technoteid`),
  KEY `ratidx` (`ratname`),
  KEY `dateidx` (`datestr`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.schedule": """
CREATE TABLE `{schema}`.`schedule` (
  `timeslot` INT(11) NOT NULL DEFAULT '0',
  `rig` INT(11) NOT NULL DEFAULT '0',
  `start_time` TIME NULL DEFAULT NULL,
  `ratname` VARCHAR(30) NULL DEFAULT NULL,
  `experimenter` VARCHAR(30) NULL DEFAULT NULL,
  `protocol` VARCHAR(50) NULL DEFAULT ' ',
  `system` INT(11) NULL DEFAULT '1',
  `instructions` VARCHAR(250) NULL DEFAULT NULL,
  `comments` VARCHAR(250) NULL DEFAULT NULL,
  `technician` VARCHAR(30) NULL DEFAULT ' ',
  `schedentryid` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `date` DATE NOT NULL,
  `wascompleted` TINYINT(1) NOT NULL DEFAULT '0',
  `wasqueried` TINYINT(1) NOT NULL DEFAULT '0',
  `wasstarted` TINYINT(1) NOT NULL DEFAULT '0',
  `wasvideosaved` TINYINT(1) NOT NULL DEFAULT '0',
  `Trials_Issue` VARCHAR(2) NOT NULL,
  `Bias_Issue` VARCHAR(2) NOT NULL,
  PRIMARY KEY (`schedentryid`),
  UNIQUE KEY `slot` (`rig`, `timeslot`, `date`),
  KEY `dateidx` (`date`),
  KEY `ratidx` (`ratname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "bdata.calibration_info_tbl": """
CREATE TABLE `{schema}`.`calibration_info_tbl` (
  `rig_id` VARCHAR(3) NOT NULL,
  `initials` VARCHAR(5) NOT NULL,
  `dateval` DATETIME NOT NULL,
  `valve` VARCHAR(15) NOT NULL,
  `timeval` DOUBLE UNSIGNED NOT NULL,
  `dispense` DOUBLE UNSIGNED NOT NULL,
  `isvalid` TINYINT(1) NOT NULL,
  `calibrationid` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `target` VARCHAR(10) NOT NULL,
  `validity` VARCHAR(5) NOT NULL,
  PRIMARY KEY (`calibrationid`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.rats": """
CREATE TABLE `{schema}`.`rats` (
  `internalID` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `free` TINYINT(1) NOT NULL DEFAULT '0',
  `alert` TINYINT(1) NOT NULL DEFAULT '0',
  `experimenter` VARCHAR(20) NULL DEFAULT NULL,
  `contact` VARCHAR(40) NULL DEFAULT NULL,
  `ratname` VARCHAR(4) NULL DEFAULT NULL,
  `training` TINYINT(1) NOT NULL DEFAULT '0',
  `comments` VARCHAR(500) NULL DEFAULT NULL,
  `vendor` VARCHAR(40) NOT NULL DEFAULT 'Taconic',
  `waterperday` INT(11) NOT NULL DEFAULT '30',
  `recovering` TINYINT(1) NOT NULL DEFAULT '0',
  `deliverydate` DATE NULL DEFAULT NULL,
  `massArrival` SMALLINT(5) UNSIGNED NULL DEFAULT NULL,
  `po` VARCHAR(8) NULL DEFAULT NULL,
  `extant` TINYINT(4) NOT NULL DEFAULT '0',
  `cagemate` VARCHAR(4) NULL DEFAULT NULL,
  `forceFreeWater` TINYINT(3) UNSIGNED NOT NULL DEFAULT '0',
  `dateSac` DATE NULL DEFAULT NULL,
  `forceDepWater` TINYINT(3) UNSIGNED NOT NULL DEFAULT '0',
  `bringUpAt` TINYINT(1) NULL DEFAULT '0',
  `bringupday` VARCHAR(7) NULL DEFAULT NULL,
  `ignoredByWatermeister` TINYINT(1) NULL DEFAULT '0',
  `larid` INT(10) NULL DEFAULT NULL,
  `israt` TINYINT(1) NOT NULL DEFAULT '1',
  PRIMARY KEY (`internalID`),
  UNIQUE KEY `ratname` (`ratname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "ratinfo.rat_history": """
CREATE TABLE `{schema}`.`rat_history` (
  `internalID` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `free` TINYINT(1) NOT NULL DEFAULT '0',
  `alert` TINYINT(1) NOT NULL DEFAULT '0',
  `experimenter` VARCHAR(20) NULL DEFAULT NULL,
  `contact` VARCHAR(40) NULL DEFAULT NULL,
  `ratname` VARCHAR(4) NULL DEFAULT NULL,
  `training` TINYINT(1) NOT NULL DEFAULT '0',
  `comments` VARCHAR(500) NULL DEFAULT NULL,
  `waterperday` INT(11) NOT NULL DEFAULT '30',
  `recovering` TINYINT(1) NOT NULL DEFAULT '0',
  `extant` TINYINT(4) NOT NULL DEFAULT '0',
  `cagemate` VARCHAR(4) NULL DEFAULT NULL,
  `forceFreeWater` TINYINT(3) UNSIGNED NOT NULL DEFAULT '0',
  `dateSac` DATE NULL DEFAULT NULL,
  `forceDepWater` TINYINT(3) UNSIGNED NOT NULL DEFAULT '0',
  `bringUpAt` TINYINT(1) NULL DEFAULT '0',
  `bringupday` VARCHAR(7) NULL DEFAULT NULL,
  `ignoredByWatermeister` TINYINT(1) NULL DEFAULT '0',
  `logtime` TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`internalID`),
  KEY `ratidx` (`ratname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "ratinfo.mass": """
CREATE TABLE `{schema}`.`mass` (
  `mass` SMALLINT(5) UNSIGNED NULL DEFAULT NULL,
  `weighing` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `date` DATE NOT NULL DEFAULT '1000-01-01',
  `ratname` VARCHAR(4) NOT NULL,
  `tech` VARCHAR(4) NULL DEFAULT NULL,
  `timeval` TIME NOT NULL,
  PRIMARY KEY (`weighing`),
  UNIQUE KEY `ratday` (`date`, `ratname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "ratinfo.rigwater": """
CREATE TABLE `{schema}`.`rigwater` (
  `id` INT(10) UNSIGNED NOT NULL AUTO_INCREMENT,
  `ratname` VARCHAR(4) NOT NULL,
  `dateval` DATE NOT NULL,
  `totalvol` DECIMAL(10,5) NOT NULL,
  `trialvol` DECIMAL(10,5) NOT NULL,
  `complete` TINYINT(3) UNSIGNED NOT NULL,
  `n_rewarded_trials` INT(5) UNSIGNED NOT NULL,
  `target_percent` DECIMAL(5,2) NULL DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "ratinfo.surgery": """
CREATE TABLE `{schema}`.`surgery` (
  `id` INT(11) NOT NULL AUTO_INCREMENT,
  `ratname` CHAR(4) NOT NULL,
  `surgeon` VARCHAR(40) NULL DEFAULT NULL,
  `ratgrams` INT(11) NULL DEFAULT NULL,
  `date` DATE NOT NULL,
  `starttime` TIME NOT NULL,
  `endtime` TIME NOT NULL,
  `type` VARCHAR(100) NULL DEFAULT NULL,
  `eib_num` VARCHAR(20) NULL DEFAULT NULL,
  `coordinates` VARCHAR(40) NULL DEFAULT NULL,
  `brainregions` VARCHAR(40) NOT NULL,
  `ketamine` FLOAT NULL DEFAULT NULL,
  `buprenex` FLOAT NULL DEFAULT NULL,
  `notes` TEXT NULL DEFAULT NULL,
  `Bregma` VARCHAR(20) NULL DEFAULT NULL,
  `IA0` VARCHAR(20) NULL DEFAULT NULL,
  `angle` FLOAT NULL DEFAULT '0',
  `tilt_axis` ENUM('AP','ML') NULL DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "ratinfo.water": """
CREATE TABLE `{schema}`.`water` (
  `date` DATE NOT NULL,
  `rat` VARCHAR(4) NOT NULL,
  `tech` VARCHAR(4) NULL DEFAULT NULL,
  `starttime` TIME NULL DEFAULT NULL,
  `stoptime` TIME NULL DEFAULT NULL,
  `watering` INT(11) NOT NULL AUTO_INCREMENT,
  `volume` DECIMAL(6,3) NOT NULL,
  `percent_bodymass` DECIMAL(6,3) NOT NULL,
  `percent_target` DECIMAL(6,3) NOT NULL,
  PRIMARY KEY (`watering`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "bdata.sess_started": """
CREATE TABLE `{schema}`.`sess_started` (
  `sessid` INT(11) NOT NULL,
  `sessiondate` DATE NULL DEFAULT '1000-01-01',
  `starttime` TIME NULL DEFAULT '00:00:00',
  `was_ended` TINYINT(1) NULL DEFAULT '0',
  `ratname` VARCHAR(30) NULL DEFAULT NULL,
  `hostname` VARCHAR(30) NULL DEFAULT NULL,
  `technotes` VARCHAR(200) NULL DEFAULT NULL,
  `crashed` TINYINT(3) UNSIGNED ZEROFILL NOT NULL,
  `rigid` INT(4) UNSIGNED NOT NULL,
  PRIMARY KEY (`sessid`),
  KEY `dateidx` (`sessiondate`),
  KEY `rigidx` (`rigid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    "bdata.sessions": """
CREATE TABLE `{schema}`.`sessions` (
  `sessid` INT(11) NOT NULL,
  `ratname` VARCHAR(30) NOT NULL DEFAULT '',
  `hostname` VARCHAR(30) NOT NULL DEFAULT '',
  `experimenter` VARCHAR(30) NOT NULL DEFAULT '',
  `starttime` TIME NOT NULL DEFAULT '00:00:00',
  `endtime` TIME NOT NULL DEFAULT '00:00:00',
  `sessiondate` DATE NOT NULL DEFAULT '1000-01-01',
  `n_done_trials` INT(11) NOT NULL DEFAULT '0',
  `comments` VARCHAR(1000) NULL DEFAULT NULL,
  `settings_file` VARCHAR(200) NOT NULL DEFAULT '',
  `settings_path` VARCHAR(200) NOT NULL DEFAULT '',
  `data_file` VARCHAR(200) NOT NULL DEFAULT '',
  `data_path` VARCHAR(200) NOT NULL DEFAULT '',
  `video_file` VARCHAR(200) NOT NULL DEFAULT '',
  `video_path` VARCHAR(200) NOT NULL DEFAULT '',
  `protocol` VARCHAR(30) NOT NULL DEFAULT '',
  `total_correct` FLOAT(2,2) NULL DEFAULT NULL,
  `right_correct` FLOAT(2,2) NULL DEFAULT NULL,
  `left_correct` FLOAT(2,2) NULL DEFAULT NULL,
  `percent_violations` FLOAT(2,2) NULL DEFAULT NULL,
  `brokenbits` INT(11) NULL DEFAULT '0',
  `protocol_data` MEDIUMBLOB NULL DEFAULT NULL,
  `left_pokes` INT(10) UNSIGNED NULL DEFAULT NULL,
  `center_pokes` INT(10) UNSIGNED NULL DEFAULT NULL,
  `right_pokes` INT(10) UNSIGNED NULL DEFAULT NULL,
  `technotes` VARCHAR(200) NULL DEFAULT NULL,
  `IP_addr` VARCHAR(15) NULL DEFAULT NULL,
  `crashed` TINYINT(1) UNSIGNED NULL DEFAULT NULL,
  `foodpuck` TINYINT(1) UNSIGNED NULL DEFAULT '0',
  PRIMARY KEY (`sessid`),
  KEY `rat_index` (`ratname`),
  KEY `experimenter_index` (`experimenter`),
  KEY `date_index` (`sessiondate`),
  KEY `protocol_index` (`protocol`),
  KEY `data_file_idx` (`data_file`),
  KEY `hostidx` (`hostname`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1""",
    "bdata.parsed_events": """
CREATE TABLE `{schema}`.`parsed_events` (
  `sessid` INT(11) NOT NULL,
  `peh` MEDIUMBLOB NOT NULL,
  PRIMARY KEY (`sessid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
}

TABLE_ORDER: tuple[str, ...] = tuple(LEGACY_TABLES_DDL)
"""Creation / insertion order (parents before children, as in spec §2.0)."""


def schema_name(prefix: str, schema: str) -> str:
    """Prefixed physical schema name, e.g. ``("t1_", "ratinfo") -> "t1_ratinfo"``."""
    return f"{prefix}{schema}"


def create_table_sql(table: str, prefix: str) -> str:
    """The ``CREATE TABLE`` statement of ``table`` (``"ratinfo.mass"``) under ``prefix``."""
    schema, _ = table.split(".")
    return LEGACY_TABLES_DDL[table].strip().format(schema=schema_name(prefix, schema))
