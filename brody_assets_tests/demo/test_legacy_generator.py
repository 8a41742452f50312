"""The synthetic legacy database: schema fidelity, determinism, defects and blobs."""

from __future__ import annotations

import datetime as dt
import json
import random

import datajoint.blob as djblob
import numpy as np
import pytest
from datajoint.errors import DataJointError

from brody_assets.demo.legacy import (
    LEGACY_TABLES_DDL,
    SCALES,
    append_days,
    blobs,
    build_legacy_database,
    mym,
)
from brody_assets.demo.legacy.defects import DEFECT_KINDS
from brody_assets.demo.legacy.scales import get_scale

END = dt.date(2024, 7, 30)

# --- independent expectations transcribed from spec §2 -----------------------------------------
EXPECTED_COLUMNS = {
    "ratinfo.contacts": "experimenter email initials telephone tag_letter tag_RGB_old lab_manager subscribe_all tech_morning tech_afternoon tech_computer is_alumni custom_rig_order FullName tech_overnight tag_RGB tech_shifts phone_carrier contactid",
    "ratinfo.riginfo": "rigid ip_addr mac_addr rtfsm_ip hostname is_linux video_server comptype",
    "ratinfo.training_room": "tower top middle bottom",
    "ratinfo.rigflush": "id rig wasflushed dateval",
    "ratinfo.rigfood": "rigfoodid rigid datetime",
    "ratinfo.rig_maintenance": "maintenance_id rigid note isbroken broke_person fix_person broke_date fix_date fix_note",
    "ratinfo.tech_schedule": "date day overnight scheduleid morning evening",
    "ratinfo.technotes": "technoteid datestr timestr ratname rigid timeslot experimenter techinitials note flag",
    "ratinfo.schedule": "timeslot rig start_time ratname experimenter protocol system instructions comments technician schedentryid date wascompleted wasqueried wasstarted wasvideosaved Trials_Issue Bias_Issue",
    "bdata.calibration_info_tbl": "rig_id initials dateval valve timeval dispense isvalid calibrationid target validity",
    "ratinfo.rats": "internalID free alert experimenter contact ratname training comments vendor waterperday recovering deliverydate massArrival po extant cagemate forceFreeWater dateSac forceDepWater bringUpAt bringupday ignoredByWatermeister larid israt",
    "ratinfo.rat_history": "internalID free alert experimenter contact ratname training comments waterperday recovering extant cagemate forceFreeWater dateSac forceDepWater bringUpAt bringupday ignoredByWatermeister logtime",
    "ratinfo.mass": "mass weighing date ratname tech timeval",
    "ratinfo.rigwater": "id ratname dateval totalvol trialvol complete n_rewarded_trials target_percent",
    "ratinfo.surgery": "id ratname surgeon ratgrams date starttime endtime type eib_num coordinates brainregions ketamine buprenex notes Bregma IA0 angle tilt_axis",
    "ratinfo.water": "date rat tech starttime stoptime watering volume percent_bodymass percent_target",
    "bdata.sess_started": "sessid sessiondate starttime was_ended ratname hostname technotes crashed rigid",
    "bdata.sessions": "sessid ratname hostname experimenter starttime endtime sessiondate n_done_trials comments settings_file settings_path data_file data_path video_file video_path protocol total_correct right_correct left_correct percent_violations brokenbits protocol_data left_pokes center_pokes right_pokes technotes IP_addr crashed foodpuck",
    "bdata.parsed_events": "sessid peh",
}
EXPECTED_PK = {
    "ratinfo.contacts": "contactid",
    "ratinfo.riginfo": "rigid",
    "ratinfo.training_room": "tower",
    "ratinfo.rigflush": "id",
    "ratinfo.rigfood": "rigfoodid",
    "ratinfo.rig_maintenance": "maintenance_id",
    "ratinfo.tech_schedule": "scheduleid",
    "ratinfo.technotes": "technoteid",
    "ratinfo.schedule": "schedentryid",
    "bdata.calibration_info_tbl": "calibrationid",
    "ratinfo.rats": "internalID",
    "ratinfo.rat_history": "internalID",
    "ratinfo.mass": "weighing",
    "ratinfo.rigwater": "id",
    "ratinfo.surgery": "id",
    "ratinfo.water": "watering",
    "bdata.sess_started": "sessid",
    "bdata.sessions": "sessid",
    "bdata.parsed_events": "sessid",
}
UTF8_TABLES = {
    "ratinfo.contacts",
    "ratinfo.rats",
    "ratinfo.rat_history",
    "ratinfo.mass",
    "ratinfo.water",
    "ratinfo.schedule",
    "ratinfo.surgery",
    "bdata.sess_started",
    "bdata.parsed_events",
}
# (table, column) -> (COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT as MariaDB reports it)
EXPECTED_TYPES = {
    ("ratinfo.contacts", "tech_overnight"): ("tinyint(1) unsigned zerofill", "YES", "0"),
    ("ratinfo.contacts", "tag_RGB_old"): ("tinyblob", "YES", "NULL"),
    ("ratinfo.contacts", "telephone"): ("bigint(20) unsigned", "YES", "NULL"),
    ("ratinfo.contacts", "experimenter"): ("varchar(30)", "NO", "'unnamed'"),
    ("ratinfo.rigflush", "wasflushed"): ("tinyint(3) unsigned zerofill", "NO", None),
    ("bdata.sess_started", "crashed"): ("tinyint(3) unsigned zerofill", "NO", None),
    ("bdata.sess_started", "sessiondate"): ("date", "YES", "'1000-01-01'"),
    ("bdata.sessions", "total_correct"): ("float(2,2)", "YES", "NULL"),
    ("bdata.sessions", "protocol_data"): ("mediumblob", "YES", "NULL"),
    ("bdata.parsed_events", "peh"): ("mediumblob", "NO", None),
    ("ratinfo.surgery", "tilt_axis"): ("enum('AP','ML')", "YES", "NULL"),
    ("ratinfo.rigfood", "rigid"): ("tinyint(3) unsigned", "NO", "0"),
    ("ratinfo.rigfood", "datetime"): ("datetime", "NO", "'1000-01-01 00:00:00'"),
    ("ratinfo.mass", "mass"): ("smallint(5) unsigned", "YES", "NULL"),
    ("ratinfo.mass", "date"): ("date", "NO", "'1000-01-01'"),
    ("ratinfo.rats", "vendor"): ("varchar(40)", "NO", "'Taconic'"),
    ("ratinfo.rats", "waterperday"): ("int(11)", "NO", "30"),
    ("ratinfo.water", "volume"): ("decimal(6,3)", "NO", None),
    ("ratinfo.rigwater", "totalvol"): ("decimal(10,5)", "NO", None),
    ("bdata.calibration_info_tbl", "timeval"): ("double unsigned", "NO", None),
    ("ratinfo.technotes", "rigid"): ("smallint(5) unsigned", "YES", "NULL"),
    ("ratinfo.riginfo", "mac_addr"): ("char(12)", "YES", "''"),
}
EXPECTED_INDEXES = {
    ("ratinfo.technotes", "ratidx"): ("ratname", 1),
    ("ratinfo.technotes", "dateidx"): ("datestr", 1),
    ("ratinfo.schedule", "slot"): ("rig,timeslot,date", 0),
    ("ratinfo.schedule", "dateidx"): ("date", 1),
    ("ratinfo.rats", "ratname"): ("ratname", 0),
    ("ratinfo.rat_history", "ratidx"): ("ratname", 1),
    ("ratinfo.mass", "ratday"): ("date,ratname", 0),
    ("bdata.sess_started", "rigidx"): ("rigid", 1),
    ("bdata.sessions", "hostidx"): ("hostname", 1),
    ("bdata.sessions", "data_file_idx"): ("data_file", 1),
}


def fq(prefix: str, table: str) -> str:
    schema, name = table.split(".")
    return f"`{prefix}{schema}`.`{name}`"


def query(conn, sql: str, args=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


@pytest.fixture(scope="module")
def conn(mariadb_server):
    connection = mariadb_server.admin_connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def built(conn, prefix_factory, tmp_path_factory):
    prefix = prefix_factory()
    path = tmp_path_factory.mktemp("legacy") / "manifest.json"
    manifest = build_legacy_database(
        conn, prefix, "small", seed=7, end_date=END, manifest_path=path
    )
    return prefix, manifest, path


def checksums(conn, prefix: str) -> dict[str, int]:
    return {
        t: query(conn, f"CHECKSUM TABLE {fq(prefix, t)} EXTENDED")[0][1] for t in LEGACY_TABLES_DDL
    }


# --- no database -------------------------------------------------------------------------------


def test_unknown_scale_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"'huge'.*lab, small"):
        build_legacy_database(None, "x_", scale="huge")
    assert set(SCALES) == {"small", "lab"} and get_scale("lab").days > get_scale("small").days


def test_mym_blobs_decode_with_datajoint_32bit_dims():
    rng = random.Random(1)
    value = blobs.peh_value(rng, 12)
    blob = mym.encode(value)
    assert blob.startswith(b"ZL123\0")  # compressed like mYm does for big blobs
    small = mym.encode({"x": np.array([[1.0, 2.0], [3.0, 4.0]]), "name": "state_0"})
    assert small.startswith(b"mYm\0")
    djblob.use_32bit_dims = True
    try:
        peh = djblob.unpack(blob)
        assert peh.shape == (1, 12)
        assert set(peh.dtype.names) == {"states", "pokes", "waves"}
        first = value.elements[0]
        states = peh[0, 0]["states"][0, 0]
        np.testing.assert_array_equal(
            states["cpoke"], np.asarray(first["states"]["cpoke"]).reshape(-1, 2)
        )
        assert str(states["starting_state"][0]) == "state_0"
        np.testing.assert_array_equal(
            peh[0, 5]["pokes"][0, 0]["C"].reshape(-1, 2),
            np.asarray(value.elements[5]["pokes"]["C"]),
        )
        decoded = djblob.unpack(small)[0, 0]
        np.testing.assert_array_equal(decoded["x"], [[1.0, 2.0], [3.0, 4.0]])
        with pytest.raises(DataJointError):
            djblob.unpack(mym.corrupt(blob))
    finally:
        djblob.use_32bit_dims = False
    with pytest.raises(ValueError):  # 64-bit reading of a 32-bit blob does not work
        djblob.unpack(small)


def test_defect_catalog_is_complete():
    problems = {spec["problem"] for spec in DEFECT_KINDS.values()}
    assert set(range(1, 19)) - {14} <= problems | {10}
    assert {20, 22, 25} - problems == {20, 22}  # DDL facts are not manifest rows; 25 is declared
    assert DEFECT_KINDS["sessions_fraction_out_of_range"]["injectable"] is False


# --- the built database ------------------------------------------------------------------------


def test_tables_match_spec(conn, built):
    prefix, _, _ = built
    for table, columns in EXPECTED_COLUMNS.items():
        schema, name = table.split(".")
        rows = query(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION",
            (prefix + schema, name),
        )
        assert [r[0] for r in rows] == columns.split(), table
        pk = query(
            conn,
            "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND INDEX_NAME='PRIMARY'",
            (prefix + schema, name),
        )
        assert pk[0][0] == EXPECTED_PK[table]
        charset = query(
            conn,
            "SELECT CCSA.CHARACTER_SET_NAME FROM information_schema.TABLES T JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA ON CCSA.COLLATION_NAME = T.TABLE_COLLATION WHERE T.TABLE_SCHEMA=%s AND T.TABLE_NAME=%s",
            (prefix + schema, name),
        )
        assert charset[0][0] in (("utf8mb3", "utf8") if table in UTF8_TABLES else ("latin1",)), (
            table
        )
    for (table, column), expected in EXPECTED_TYPES.items():
        schema, name = table.split(".")
        got = query(
            conn,
            "SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND COLUMN_NAME=%s",
            (prefix + schema, name, column),
        )
        assert got[0] == expected, (table, column)
    for (table, index), (cols, non_unique) in EXPECTED_INDEXES.items():
        schema, name = table.split(".")
        got = query(
            conn,
            "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX), MAX(NON_UNIQUE) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND INDEX_NAME=%s",
            (prefix + schema, name, index),
        )
        assert got[0] == (cols, non_unique), (table, index)
    logtime = query(
        conn,
        "SELECT COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME='rat_history' AND COLUMN_NAME='logtime'",
        (prefix + "ratinfo",),
    )[0]
    assert "current_timestamp" in logtime[0].lower() and "on update" in logtime[1].lower()
    assert (
        query(
            conn,
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s",
            (prefix + "protocol",),
        )[0][0]
        == 1
    )


def test_manifest_shape_and_counts(conn, built):
    prefix, manifest, path = built
    assert json.loads(path.read_text())["defects"] == manifest["defects"]
    assert (
        manifest["seed"] == 7
        and manifest["scale"] == "small"
        and manifest["end_date"] == END.isoformat()
    )
    counts = manifest["row_counts"]
    assert set(counts) == set(LEGACY_TABLES_DDL)
    assert counts["ratinfo.contacts"] == 116 and counts["ratinfo.surgery"] == 272
    assert 300 <= counts["ratinfo.mass"] <= 5000 and 300 <= counts["bdata.sessions"] <= 5000
    injectable = {k for k, v in DEFECT_KINDS.items() if v.get("injectable", True)}
    assert {d["kind"] for d in manifest["defects"]} == injectable
    for d in manifest["defects"]:
        spec = DEFECT_KINDS[d["kind"]]
        assert d["quarantine"] == spec["quarantine"] and d["problem"] == spec["problem"]
        assert spec["table"] in (d["table"], "*")
    keys = [(d["table"], tuple(d["key"].items())) for d in manifest["defects"] if d["quarantine"]]
    assert len(keys) == len(set(keys)), "one quarantine reason per row"
    ids = {(d["table"], v) for d in manifest["defects"] for v in d["key"].values()}
    for named in (
        [("ratinfo.contacts", i) for i in (53, 59, 97)]
        + [("ratinfo.water", i) for i in (455474, 455475, 455476, 455477, 455479)]
        + [("ratinfo.surgery", i) for i in (1, 2, 56, 115, 117, 119, 120, 163, 192, 229, 230, 231)]
        + [("ratinfo.schedule", i) for i in range(136150, 136155)]
        + [("bdata.calibration_info_tbl", 76687), ("ratinfo.rig_maintenance", 774)]
    ):
        assert named in ids, named


# SQL predicate per kind; `t` is the defect row, {r}/{b} are the ratinfo/bdata schemas.
PREDICATES = {
    "contact_duplicate_email": "EXISTS (SELECT 1 FROM {r}.contacts o WHERE o.email = t.email AND o.contactid <> t.contactid)",
    "contact_email_null": "t.email IS NULL",
    "contact_experimenter_duplicate": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.experimenter = t.experimenter) = 2",
    "contact_initials_shared": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.initials = t.initials) >= 2",
    "rat_experimenter_ambiguous": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.experimenter = t.experimenter) >= 2",
    "rat_experimenter_unresolvable": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.experimenter = t.experimenter) = 0 AND t.experimenter NOT IN ('pbibawi','abondy','velliott','Peter Bibawi')",
    "rat_experimenter_alias": "t.experimenter IN ('pbibawi','abondy','velliott','Peter Bibawi')",
    "rat_ratname_null": "t.ratname IS NULL",
    "rat_waterperday_too_large": "t.waterperday >= 100",
    "rat_contact_blank": "TRIM(t.contact) = ''",
    "rat_contact_trailing_comma": "t.contact LIKE '%%,'",
    "rat_date_zero": "(t.deliverydate = '0000-00-00' OR t.dateSac = '0000-00-00')",
    "rat_not_migrated": "1",  # checked separately below
    "rathistory_experimenter_unresolvable": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.experimenter = t.experimenter) <> 1 AND t.experimenter NOT IN ('pbibawi','abondy','velliott','lb6','jtb3','Peter Bibawi','Nick Horbelt','Sarah Jo')",
    "rathistory_rat_orphan": "t.ratname NOT IN (SELECT ratname FROM {r}.rats WHERE ratname IS NOT NULL)",
    "rathistory_duplicate_logtime": "(SELECT COUNT(*) FROM {r}.rat_history o WHERE o.ratname = t.ratname AND o.logtime = t.logtime) >= 2",
    "rathistory_contact_trailing_comma": "t.contact LIKE '%%,'",
    "rathistory_datesac_zero": "t.dateSac = '0000-00-00'",
    "mass_tech_ambiguous": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.initials = t.tech) >= 2",
    "mass_tech_unknown": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.initials = t.tech) = 0",
    "mass_date_zero": "t.date = '0000-00-00'",
    "mass_time_zero": "t.timeval = '00:00:00'",
    "mass_rat_orphan": "t.ratname NOT IN (SELECT ratname FROM {r}.rats WHERE ratname IS NOT NULL)",
    "water_date_zero": "t.date = '0000-00-00' AND t.rat = '' AND t.tech IS NULL AND t.volume = 0",
    "water_starttime_null": "t.starttime IS NULL",
    "water_tech_null": "t.tech IS NULL",
    "water_tech_not_in_contacts": "t.tech NOT IN (SELECT initials FROM {r}.contacts WHERE initials IS NOT NULL)",
    "water_rat_orphan": "t.rat NOT IN (SELECT ratname FROM {r}.rats WHERE ratname IS NOT NULL)",
    "water_repeated_zero_volume": "t.volume = 0 AND (SELECT COUNT(*) FROM {r}.water o WHERE o.rat = t.rat AND o.date = t.date AND o.starttime = t.starttime AND o.stoptime = t.stoptime) >= 2",
    "rigwater_date_invalid": "(DAY(t.dateval) = 0 OR t.dateval = '0000-00-00')",
    "rigwater_rat_orphan": "t.ratname NOT IN (SELECT ratname FROM {r}.rats WHERE ratname IS NOT NULL)",
    "surgery_date_zero": "t.date = '0000-00-00'",
    "surgery_duplicate_natural_key": "EXISTS (SELECT 1 FROM {r}.surgery o WHERE o.ratname = t.ratname AND o.date = t.date AND o.starttime = t.starttime AND o.id < t.id)",
    "surgery_rat_orphan": "t.ratname NOT IN (SELECT ratname FROM {r}.rats WHERE ratname IS NOT NULL)",
    "surgery_surgeon_null": "t.surgeon IS NULL",
    "surgery_surgeon_too_wide": "CHAR_LENGTH(t.surgeon) > 32",
    "surgery_notes_too_wide": "CHAR_LENGTH(t.notes) > 600",
    "surgery_time_odd": "t.starttime < '00:01:00'",
    "schedule_date_zero": "t.date = '0000-00-00'",
    "schedule_timeslot_too_wide": "t.timeslot > 127",
    "tech_schedule_date_zero": "t.date = '0000-00-00'",
    "technote_datetime_missing": "(t.datestr IS NULL OR t.timestr IS NULL)",
    "technote_note_too_wide": "CHAR_LENGTH(t.note) > 800",
    "technote_tech_not_in_contacts": "t.techinitials NOT IN (SELECT initials FROM {r}.contacts WHERE initials IS NOT NULL)",
    "rigfood_rig_orphan": "t.rigid NOT IN (SELECT rigid FROM {r}.riginfo)",
    "rig_maintenance_rig_orphan": "t.rigid NOT IN (SELECT rigid FROM {r}.riginfo) AND t.rigid BETWEEN 303 AND 336",
    "rig_maintenance_note_too_wide": "(CHAR_LENGTH(t.note) > 500 OR CHAR_LENGTH(t.fix_note) > 500)",
    "rig_maintenance_zero_datetime": "(t.fix_date = '0000-00-00 00:00:00' OR t.broke_date = '0000-00-00 00:00:00')",
    "calibration_rig_orphan": "t.rig_id IN ('44', '999')",
    "calibration_rig_id_not_numeric": "t.rig_id NOT REGEXP '^[0-9]+$'",
    "calibration_dateval_zero": "t.dateval = '0000-00-00 00:00:00' AND t.rig_id = '401'",
    "sess_started_rig_unresolvable": "t.rigid = 0 AND t.hostname NOT REGEXP '^(Rig)?[0-9]+$'",
    "sess_started_ratname_null": "t.ratname IS NULL",
    "sess_started_not_migrated": "t.sessid IN (SELECT sessid FROM {b}.sess_started WHERE ratname IS NULL OR (rigid = 0 AND hostname NOT REGEXP '^(Rig)?[0-9]+$') OR ratname NOT IN (SELECT ratname FROM {r}.rats WHERE ratname IS NOT NULL))",
    "session_experimenter_ambiguous": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.experimenter = t.experimenter) >= 2",
    "session_experimenter_unresolvable": "(SELECT COUNT(*) FROM {r}.contacts o WHERE o.experimenter = t.experimenter) = 0",
    "session_hostname_unresolvable": "t.hostname NOT REGEXP '^Rig[0-9]+$'",
    "session_protocol_data_null": "t.protocol_data IS NULL",
    "session_without_parsed_events": "t.sessid NOT IN (SELECT sessid FROM {b}.parsed_events)",
    "session_not_migrated": "1",
    "peh_undecodable": "SUBSTRING(t.peh, 5, 1) = 'Q'",
}


def _where(key: dict) -> tuple[str, tuple]:
    return " AND ".join(f"t.`{k}` = %s" for k in key), tuple(key.values())


def test_every_defect_row_carries_its_defect(conn, built):
    prefix, manifest, _ = built
    r, b = f"`{prefix}ratinfo`", f"`{prefix}bdata`"
    assert set(PREDICATES) >= {d["kind"] for d in manifest["defects"]}
    failures = []
    for d in manifest["defects"]:
        where, args = _where(d["key"])
        pred = PREDICATES[d["kind"]].format(r=r, b=b)
        if not query(
            conn, f"SELECT COUNT(*) FROM {fq(prefix, d['table'])} t WHERE {where} AND {pred}", args
        )[0][0]:
            failures.append(d)
    assert not failures, failures[:5]


def _quarantined(manifest, table: str) -> set:
    return {
        tuple(d["key"].values())
        for d in manifest["defects"]
        if d["table"] == table and d["quarantine"]
    }


def test_clean_rows_follow_the_rules(conn, built):
    prefix, manifest, _ = built
    r = f"`{prefix}ratinfo`"
    unmigrated_rats = {
        d["key"]["internalID"]
        for d in manifest["defects"]
        if d["table"] == "ratinfo.rats" and d["quarantine"]
    }
    migrated = {
        n
        for i, n in query(conn, f"SELECT internalID, ratname FROM {r}.rats")
        if i not in unmigrated_rats
    }
    # mass: quarantined exactly when tech is not one contact, date is zero or the rat is not migrated
    bad = {
        (w,)
        for w, tech, date, rat, n in query(
            conn,
            f"SELECT m.weighing, m.tech, m.date, m.ratname, (SELECT COUNT(*) FROM {r}.contacts c WHERE c.initials = m.tech) FROM {r}.mass m",
        )
        if n != 1 or str(date).startswith("0000") or rat not in migrated
    }
    assert bad == _quarantined(manifest, "ratinfo.mass")
    for table, col in (
        ("ratinfo.water", "rat"),
        ("ratinfo.rigwater", "ratname"),
        ("bdata.sess_started", "ratname"),
    ):
        orphaned = {
            k
            for k, name in query(
                conn, f"SELECT {EXPECTED_PK[table]}, {col} FROM {fq(prefix, table)}"
            )
            if name not in migrated
        }
        assert {(k,) for k in orphaned} <= _quarantined(manifest, table), table
    # parsed_events: quarantined exactly when undecodable or its session is quarantined
    bad_sessions = _quarantined(manifest, "bdata.sessions")
    pe = query(
        conn, f"SELECT sessid, SUBSTRING(peh, 5, 1) = 'Q' FROM {fq(prefix, 'bdata.parsed_events')}"
    )
    assert {(s,) for s, corrupt in pe if corrupt or (s,) in bad_sessions} == _quarantined(
        manifest, "bdata.parsed_events"
    )
    assert (
        query(conn, f"SELECT COUNT(*) FROM {r}.rats WHERE experimenter = 'Peter Bibawi'")[0][0] >= 1
    )


def test_same_seed_same_contents_other_seed_differs(conn, built, prefix_factory):
    prefix, manifest, _ = built
    twin, other = prefix_factory(), prefix_factory()
    again = build_legacy_database(conn, twin, "small", seed=7, end_date=END)
    assert again["defects"] == manifest["defects"]
    assert checksums(conn, twin) == checksums(conn, prefix)
    build_legacy_database(conn, other, "small", seed=8, end_date=END)
    differing = {t for t, c in checksums(conn, other).items() if c != checksums(conn, prefix)[t]}
    assert {"ratinfo.mass", "ratinfo.water", "bdata.parsed_events"} <= differing


def test_peh_blobs_decode_in_32bit_mode(conn, built):
    prefix, manifest, _ = built
    corrupt = {d["key"]["sessid"] for d in manifest["defects"] if d["kind"] == "peh_undecodable"}
    rows = query(
        conn,
        f"SELECT p.sessid, p.peh, s.n_done_trials, s.protocol_data FROM {fq(prefix, 'bdata.parsed_events')} p JOIN {fq(prefix, 'bdata.sessions')} s USING (sessid) ORDER BY p.sessid",
    )
    djblob.use_32bit_dims = True
    try:
        for sessid, peh, n_trials, protocol_data in rows:
            if sessid in corrupt:
                with pytest.raises(DataJointError):
                    djblob.unpack(peh)
                continue
            value = djblob.unpack(peh)
            assert value.shape == (1, n_trials)
            if protocol_data is not None:
                assert int(djblob.unpack(protocol_data)[0, 0]["n_trials"][0, 0]) == n_trials
    finally:
        djblob.use_32bit_dims = False


def test_append_days_continues_after_newest_date_deterministically(conn, prefix_factory):
    results, sums = [], []
    for _ in range(2):
        prefix = prefix_factory()
        build_legacy_database(conn, prefix, "small", seed=5, end_date=END)
        before = {
            t: query(conn, f"SELECT COUNT(*) FROM {fq(prefix, t)}")[0][0] for t in LEGACY_TABLES_DDL
        }
        max_ids = query(conn, f"SELECT MAX(weighing) FROM {fq(prefix, 'ratinfo.mass')}")[0][0]
        result = append_days(conn, prefix, 3, seed=5)
        assert result["days"] == 3 and result["rows_added"]["ratinfo.mass"] > 0
        for t, n in result["rows_added"].items():
            assert query(conn, f"SELECT COUNT(*) FROM {fq(prefix, t)}")[0][0] == before[t] + n
        new_dates = query(
            conn,
            f"SELECT MIN(date), MAX(date) FROM {fq(prefix, 'ratinfo.mass')} WHERE weighing > %s",
            (max_ids,),
        )[0]
        assert new_dates == (END + dt.timedelta(days=1), END + dt.timedelta(days=3))
        assert (
            query(
                conn,
                f"SELECT COUNT(*) FROM {fq(prefix, 'bdata.sessions')} s LEFT JOIN {fq(prefix, 'bdata.parsed_events')} p USING (sessid) WHERE s.sessiondate > %s AND p.sessid IS NULL",
                (END,),
            )[0][0]
            == 0
        )
        results.append(result)
        sums.append(checksums(conn, prefix))
    assert results[0] == results[1] and sums[0] == sums[1]
