"""Subject family (spec §2.11-2.12): rats, their audit history, and the split contact lists."""

from __future__ import annotations

from brody_assets.migration.registry import Parent, Reject, TableEntry

from .common import contact_parent, keyed, rat_parent, same
from .rules import by_experimenter, range_rule, split_contacts, zero_to_null


def _user_rules(alias_placeholder: str, table: str) -> tuple[Reject, ...]:
    """The experimenter -> netID rules of rats / rat_history, as reject rules in spec order."""
    exp = "IFNULL(QUOTE(l.`experimenter`), 'NULL')"
    return (
        Reject("unresolved_contact", "ce.n = 1 AND ce.no_email > 0",
               f"CONCAT('experimenter ', {exp}, ' is a contact without email')", 3),
        Reject("ambiguous_contact", f"ce.n > 1 AND {alias_placeholder} IS NULL",
               f"CONCAT('experimenter ', {exp}, ' matches ', ce.n, ' contacts')", 2),
        Reject("unresolved_contact", f"ce.n IS NULL AND {alias_placeholder} IS NULL",
               f"CONCAT('experimenter ', {exp}, ' matches no contact and is not a {table} alias')", 3),
    )


def _user_id(alias_placeholder: str) -> str:
    return f"IF(ce.n = 1, IF(ce.no_email = 0, ce.netid, NULL), {alias_placeholder})"


RATS = keyed(
    "subject.rats", "Rats", "ratinfo.rats", ("internalID", "rats_old_id", "rats_old_id"),
    {
        "rats_old_id": "l.`internalID`",
        "ratname": "l.`ratname`",
        "user_id": _user_id("{alias:rats}"),
        **same("free", "comments", "vendor", "waterperday", "recovering", "extant", "cagemate", "larid", "israt"),
        "deliverydate": zero_to_null("l.`deliverydate`"),
        "date_sac": zero_to_null("l.`dateSac`"),
        "force_free_water": "l.`forceFreeWater`",
        "force_dep_water": "l.`forceDepWater`",
    },
    joins=(by_experimenter("ce"),),
    rejects=(
        Reject("missing_value", "l.`ratname` IS NULL", "'ratname is NULL (the new primary key)'", 9),
        *_user_rules("{alias:rats}", "rats"),
        range_rule("waterperday", -99.9, 99.9, "waterperday decimal(3,1)", 24),
    ),
    parents=(contact_parent(),),
    natural_key=True,
    lookups=("ratinfo.contacts",),
    description="Every rat, keyed by name; the owner resolved from the experimenter.",
)

RATS_CONTACT = TableEntry(
    name="subject.rats__contact",
    new_class="Rats.Contact",
    legacy="ratinfo.rats",
    legacy_key=("internalID", "contact"),
    columns={"contact": "l.`contact`", "ratname": "l.`ratname`"},
    match=(("ratname", "ratname", "l.`ratname`"), ("contact", "contact", "l.`contact`")),
    source=split_contacts("ratinfo.rats", "internalID", "r.ratname"),
    rejects=(
        Reject("missing_value", "l.`ratname` IS NULL", "'the rat has no name'", 9),
        Reject("too_wide", "CHAR_LENGTH(l.`contact`) > 40", "'contact longer than varchar(40)'", 23),
    ),
    parents=(rat_parent(),),
    master="subject.rats",
    shadow_source="{S} s JOIN {L:ratinfo.rats} lr ON lr.ratname = s.ratname",
    shadow_id="lr.`internalID`",
    shadow_key_json="JSON_OBJECT('internalID', lr.`internalID`, 'contact', s.`contact`)",
    description="One row per netID in a rat's comma-separated contact list.",
)

RAT_HISTORY = keyed(
    "subject.rat_history", "RatHistory", "ratinfo.rat_history",
    ("internalID", "rathistory_old_id", "rathistory_id"),
    {
        "rathistory_old_id": "l.`internalID`",
        "rathistory_id": "l.`internalID`",
        "ratname": "l.`ratname`",
        "user_id": _user_id("{alias:rat_history}"),
        **same("logtime", "free", "alert", "training", "comments", "waterperday", "recovering", "extant",
               "cagemate", "bringupday"),
        "force_free_water": "l.`forceFreeWater`",
        "date_sac": zero_to_null("l.`dateSac`"),
        "force_dep_water": "l.`forceDepWater`",
        "bring_up_at": "COALESCE(l.`bringUpAt`, 0)",
        "ignored_by_watermeister": "COALESCE(l.`ignoredByWatermeister`, 0)",
    },
    joins=(by_experimenter("ce"),),
    rejects=(
        Reject("missing_value", "l.`ratname` IS NULL", "'ratname is NULL'", 9),
        *_user_rules("{alias:rat_history}", "rat_history"),
    ),
    parents=(rat_parent(), contact_parent()),
    date_column="logtime",
    lookups=("ratinfo.contacts",),
    description="Audit log of edits to rats, keyed by the legacy internalID.",
)

RAT_HISTORY_CONTACT = TableEntry(
    name="subject.rat_history__contact",
    new_class="RatHistory.Contact",
    legacy="ratinfo.rat_history",
    legacy_key=("internalID", "contact"),
    columns={"rathistory_id": "l.`internalID`", "contact": "l.`contact`"},
    match=(("rathistory_id", "rathistory_id", "l.`internalID`"), ("contact", "contact", "l.`contact`")),
    source=split_contacts("ratinfo.rat_history", "internalID", "r.logtime"),
    rejects=(Reject("too_wide", "CHAR_LENGTH(l.`contact`) > 40", "'contact longer than varchar(40)'", 23),),
    parents=(Parent("subject.rat_history", (("rathistory_id", "rathistory_id"),), "s.`rathistory_id`"),),
    master="subject.rat_history",
    date_column="logtime",
    shadow_id="s.`rathistory_id`",
    shadow_key_json="JSON_OBJECT('internalID', s.`rathistory_id`, 'contact', s.`contact`)",
    description="One row per netID in a history row's contact list.",
)

SUBJECT = (RATS, RATS_CONTACT, RAT_HISTORY, RAT_HISTORY_CONTACT)
