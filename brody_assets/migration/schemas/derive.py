"""Shadow definitions derived from the new tables' definitions (spec §1.2, §2.0b).

A shadow table is the legacy key (renamed, legacy type) as primary key plus every column of the
new table as a secondary attribute, with no foreign keys. :func:`shadow_definition` builds that
definition from the new class's ``definition`` text, so a column added to a new table appears in
its shadow automatically::

    class Water(dj.Computed):
        definition = shadow_definition(new.Water, "water_id : int(11)  # legacy watering")

Foreign keys of the new table (``-> lab.Riginfo``, ``-> subject.Rats.proj(session_rat='ratname')``)
are resolved statically, as DataJoint would: to the referenced table's primary-key attributes,
renamed by ``.proj()``, with the referenced type and no default (``=null`` when ``[nullable]``).
New-table columns named in the shadow key are left out of the secondary attributes; comments and
``auto_increment`` are dropped. Nothing here touches a database.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

_ATTRIBUTE = re.compile(
    r"""^(?P<name>[a-z][a-z0-9_]*)\s*
    (?:=\s*(?P<default>'[^']*'|"[^"]*"|[^\s:'"]+))?\s*
    :\s*(?P<type>[^#]+?)\s*(?:\#.*)?$""",
    re.VERBOSE,
)
_FOREIGN_KEY = re.compile(
    r"^->\s*(?:\[(?P<options>[^\]]*)\]\s*)?(?P<ref>[\w.]+?)(?:\.proj\((?P<proj>.*)\))?\s*(?:#.*)?$"
)
_RENAME = re.compile(r"""^\s*(?P<new>\w+)\s*=\s*(?P<q>['"])(?P<old>\w+)(?P=q)\s*$""")


class ShadowDefinitionError(ValueError):
    """A new-table definition uses syntax the shadow derivation does not understand."""


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    default: str | None = None  # as written after '=' ("null", "0", "'Taconic'", ...)

    def line(self) -> str:
        lhs = self.name if self.default is None else f"{self.name}={self.default}"
        return f"{lhs:<23} : {self.type}"


def _lines(definition: str) -> list[str]:
    return [line.strip() for line in definition.strip().splitlines() if line.strip()
            and not line.strip().startswith("#")]


def _resolve(cls: type, ref: str) -> type:
    """The class a foreign-key reference names, looked up as DataJoint would in ``cls``'s module."""
    if ref == "master":
        raise ShadowDefinitionError(f"{cls.__qualname__}: '-> master' is not derivable")
    head, *rest = ref.split(".")
    # Classes built by .static (no DataJoint import) carry their module's namespace themselves.
    namespace = vars(cls).get("_static_namespace") or vars(sys.modules[cls.__module__])
    if head not in namespace:
        raise ShadowDefinitionError(f"{cls.__qualname__}: cannot resolve '-> {ref}'")
    target = namespace[head]
    for part in rest:
        target = getattr(target, part)
    return target


def _renames(cls: type, proj: str | None) -> dict[str, str]:
    """``{referenced name: local name}`` from the arguments of ``.proj(local='referenced')``."""
    renames: dict[str, str] = {}
    for arg in filter(str.strip, (proj or "").split(",")):
        match = _RENAME.match(arg)
        if match is None:
            raise ShadowDefinitionError(f"{cls.__qualname__}: unsupported proj argument {arg!r}")
        renames[match["old"]] = match["new"]
    return renames


def _attributes(cls: type, primary_only: bool = False) -> list[Attribute]:
    """``cls``'s attributes in declaration order, foreign keys expanded to the referenced key."""
    attributes: list[Attribute] = []
    for line in _lines(cls.definition):
        if line.startswith("---") or line.startswith("___"):
            if primary_only:
                break
            continue
        if line.startswith("->"):
            match = _FOREIGN_KEY.match(line)
            if match is None:
                raise ShadowDefinitionError(f"{cls.__qualname__}: cannot parse {line!r}")
            options = {o.strip().lower() for o in (match["options"] or "").split(",") if o.strip()}
            renames = _renames(cls, match["proj"])
            parent = _resolve(cls, match["ref"])
            for attr in _attributes(parent, primary_only=True):
                attributes.append(
                    Attribute(
                        renames.get(attr.name, attr.name),
                        attr.type,
                        "null" if "nullable" in options else None,
                    )
                )
            continue
        match = _ATTRIBUTE.match(line)
        if match is None:
            raise ShadowDefinitionError(f"{cls.__qualname__}: cannot parse {line!r}")
        type_ = re.sub(r"\s*\bauto_increment\b", "", match["type"], flags=re.IGNORECASE).strip()
        attributes.append(Attribute(match["name"], type_, match["default"]))
    return attributes


def shadow_definition(new_table: type, *key_lines: str) -> str:
    """The shadow definition of ``new_table``: ``key_lines`` (legacy key, legacy types) as the
    primary key, then every new-table column not named in the key, as secondary attributes."""
    if not key_lines:
        raise ShadowDefinitionError(f"{new_table.__qualname__}: a shadow needs a key line")
    key_names = set()
    for line in key_lines:
        match = _ATTRIBUTE.match(line.strip())
        if match is None:
            raise ShadowDefinitionError(f"{new_table.__qualname__}: bad key line {line!r}")
        key_names.add(match["name"])
    secondary = [a.line() for a in _attributes(new_table) if a.name not in key_names]
    return "\n".join([*(line.strip() for line in key_lines), "---", *secondary]) + "\n"
