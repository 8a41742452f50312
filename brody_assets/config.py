"""One door for configuration: the lab's ``dj_local_conf.json`` plus environment overrides.

The file is read in the lab's existing format (DataJoint's flat dotted keys, lab extras under
``custom``)::

    {
      "database.host": "127.0.0.1", "database.port": 33306,
      "database.user": "brody_pipeline", "database.password": "...",
      "database.use_tls": false, "safemode": false, "loglevel": "INFO",
      "custom": {
        "database.prefix": "bl_new_",
        "database.shadow_prefix": "bl_shadow_",
        "ephys_root_data_dir": ["/mnt/archive/brody/RATTER/PhysData/Raw/",
                                "/mnt/cup/labs/brody/RATTER/PhysData/NP_sorted/"],
        "legacy.database.user": "brody_legacy_ro", "legacy.database.password": "...",
        "legacy.schema_prefix": ""
      }
    }

The legacy database is on the pipeline's server (same host and port) unless
``custom.legacy.database.host`` is set; a legacy host without ``legacy.database.port`` (or a
``host:port``) means port 3306, that host's own default, never the pipeline's port.
``custom.legacy.allow_writable_account: true`` lets runs go on (with a loud warning) when the legacy
account can write; by default they refuse to start.

Where the file lives: ``$BRODY_CONFIG``, else ``./dj_local_conf.json``. Environment variables
override single values (``DJ_HOST``, ``DJ_PORT``, ``DJ_USER``, ``DJ_PASS`` as DataJoint knows them;
``BRODY_*`` for the rest, see ``ENVIRONMENT``). Everything is validated once, here, and errors name
the offending key. Passwords are kept in :class:`Secret`, whose repr never shows the value.

This module imports nothing from Dagster or DataJoint.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_OWNERS: tuple[str, ...] = ("team:brody-lab",)
DEFAULT_NEW_PREFIX = "bl_new_"
DEFAULT_SHADOW_PREFIX = "bl_shadow_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """The configuration is missing, malformed, or has a bad value (the message names the key)."""


class Secret:
    """A password: usable by code through ``.reveal()``, invisible in repr, str, logs and metadata."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class DatabaseSettings:
    """Where and as whom to connect to one MySQL/MariaDB server."""

    host: str
    port: int
    user: str
    password: Secret = field(repr=False)
    use_tls: bool = False

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def tls_options(self) -> dict[str, Any]:
        """``pymysql.connect`` keywords for ``use_tls``: TLS required (no certificate check, as
        DataJoint's ``use_tls: true``), or off. Without them PyMySQL tries TLS on every connection
        and builds a certificate context for it (~40 ms each) even when the server has none."""
        return {"ssl": {"check_hostname": False}} if self.use_tls else {"ssl_disabled": True}

    def tls_query(self) -> str:
        """The same as SQLAlchemy URL query parameters (``mysql+pymysql://…/?…``)."""
        return "ssl_check_hostname=false" if self.use_tls else "ssl_disabled=true"


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one brody_assets deployment."""

    database: DatabaseSettings
    legacy: DatabaseSettings
    legacy_schema_prefix: str = ""
    new_prefix: str = DEFAULT_NEW_PREFIX
    shadow_prefix: str = DEFAULT_SHADOW_PREFIX
    archive_root: Path | None = None
    cup_root: Path | None = None
    datajoint: Mapping[str, Any] = field(default_factory=dict, repr=False)
    source: Path | None = None
    legacy_allow_writable: bool = False

    @property
    def legacy_on_pipeline_server(self) -> bool:
        """True when the legacy schemas live on the pipeline's own server (same host and port)."""
        return same_server(self.legacy, self.database)
    owners: tuple[str, ...] = DEFAULT_OWNERS

    def legacy_schema(self, name: str) -> str:
        """The real schema name of a legacy schema (``bdata``, ``ratinfo``, ``protocol``)."""
        return f"{self.legacy_schema_prefix}{name}"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def datajoint_config(self) -> dict[str, Any]:
        """The dict to load into ``dj.config`` (secrets included: give it only to DataJoint)."""
        config = dict(self.datajoint)
        config.update(
            {
                "database.host": self.database.host,
                "database.port": self.database.port,
                "database.user": self.database.user,
                "database.password": self.database.password.reveal(),
                "database.use_tls": self.database.use_tls,
                "safemode": False,
                "enable_python_native_blobs": True,
            }
        )
        return config


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def same_server(a: DatabaseSettings, b: DatabaseSettings) -> bool:
    """Whether two accounts point at one server (``localhost`` and ``127.0.0.1`` are one host)."""
    host_a, host_b = a.host.lower(), b.host.lower()
    same_host = host_a == host_b or (host_a in _LOOPBACK and host_b in _LOOPBACK)
    return same_host and a.port == b.port


# Environment variables and the setting each overrides.
ENVIRONMENT = {
    "DJ_HOST": "database.host",
    "DJ_PORT": "database.port",
    "DJ_USER": "database.user",
    "DJ_PASS": "database.password",
    "BRODY_LEGACY_HOST": "legacy.database.host",
    "BRODY_LEGACY_PORT": "legacy.database.port",
    "BRODY_LEGACY_USER": "legacy.database.user",
    "BRODY_LEGACY_PASSWORD": "legacy.database.password",
    "BRODY_LEGACY_SCHEMA_PREFIX": "legacy.schema_prefix",
    "BRODY_LEGACY_ALLOW_WRITABLE": "legacy.allow_writable_account",
    "BRODY_DB_PREFIX": "database.prefix",
    "BRODY_SHADOW_PREFIX": "database.shadow_prefix",
    "BRODY_ARCHIVE_ROOT": "archive_root",
    "BRODY_CUP_ROOT": "cup_root",
}

_SCHEMA_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# A prefix plus the longest schema suffix the pipeline uses ("ephys_report") must fit MySQL's 64.
MAX_PREFIX_LENGTH = 40
# DataJoint keys we pass through unchanged when present.
_DATAJOINT_PASSTHROUGH = ("loglevel", "display.limit", "display.width", "display.show_tuple_count")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file to read: ``$BRODY_CONFIG``, else ``./dj_local_conf.json``."""
    env = os.environ if env is None else env
    explicit = env.get("BRODY_CONFIG")
    return Path(explicit) if explicit else Path.cwd() / "dj_local_conf.json"


def _read_json(path: Path) -> Any:
    """The config file's JSON; invalid JSON is a :class:`ConfigError` naming the file and place."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, override from the environment and validate the configuration."""
    env = os.environ if env is None else env
    path = Path(path) if path is not None else config_path(env)
    if not path.is_file():
        raise ConfigError(
            f"No configuration file at {path}. Copy resources/dj_local_conf.json there (or set "
            "BRODY_CONFIG to its path) and fill in the database and drive settings."
        )
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object of settings, not {type(raw).__name__}")
    return settings_from_mapping(raw, env=env, source=path)


def settings_from_mapping(
    raw: Mapping[str, Any], env: Mapping[str, str] | None = None, source: Path | None = None
) -> Settings:
    """Validate an already-parsed ``dj_local_conf.json`` mapping (plus environment overrides)."""
    env = os.environ if env is None else env
    where = str(source) if source else "configuration"
    custom = raw.get("custom", {})
    if not isinstance(custom, dict):
        raise ConfigError(f"{where}: 'custom' must be an object")

    values: dict[str, Any] = {}
    for key in ("database.host", "database.port", "database.user", "database.password"):
        if key in raw:
            values[key] = raw[key]
    for key in (
        "legacy.database.host",
        "legacy.database.port",
        "legacy.database.user",
        "legacy.database.password",
        "legacy.schema_prefix",
        "legacy.allow_writable_account",
        "database.prefix",
        "database.shadow_prefix",
    ):
        if key in custom:
            values[key] = custom[key]
    roots = custom.get("ephys_root_data_dir")
    if roots is not None:
        if isinstance(roots, str):
            roots = [roots]
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            raise ConfigError(
                f"{where}: 'custom.ephys_root_data_dir' must be a list of two paths "
                "[archive drive, cup drive]"
            )
        if roots:
            values["archive_root"] = roots[0]
        if len(roots) > 1:
            values["cup_root"] = roots[1]
    overridden: list[str] = []
    for variable, key in ENVIRONMENT.items():
        if env.get(variable):
            values[key] = env[variable]
            overridden.append(variable)

    base = source.parent if source else Path.cwd()
    database = _database(values, "database", where, tls=raw.get("database.use_tls", False))
    legacy = _database(
        values,
        "legacy.database",
        where,
        tls=custom.get("legacy.database.use_tls", False),
        fallback=database,
    )
    new_prefix = values.get("database.prefix", DEFAULT_NEW_PREFIX)
    shadow_prefix = values.get("database.shadow_prefix", DEFAULT_SHADOW_PREFIX)
    legacy_prefix = values.get("legacy.schema_prefix", "")
    try:
        check_prefixes(new_prefix, shadow_prefix, legacy_prefix)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return Settings(
        database=database,
        legacy=legacy,
        legacy_schema_prefix=legacy_prefix,
        new_prefix=new_prefix,
        shadow_prefix=shadow_prefix,
        legacy_allow_writable=_flag(
            values.get("legacy.allow_writable_account", False), "custom.legacy.allow_writable_account", where
        ),
        archive_root=_path(values.get("archive_root"), base),
        cup_root=_path(values.get("cup_root"), base),
        datajoint={k: raw[k] for k in _DATAJOINT_PASSTHROUGH if k in raw},
        source=source,
        owners=_owners(custom.get("owners"), where),
    )


_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def _owners(value: Any, where: str) -> tuple[str, ...]:
    """``custom.owners``: who answers for the assets (Dagster shows them on every asset page)."""
    if value is None:
        return DEFAULT_OWNERS
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: 'custom.owners' must be a list of owners, e.g. [\"team:brody-lab\"]")
    for owner in value:
        if not isinstance(owner, str) or not _OWNER.match(owner):
            raise ConfigError(
                f"{where}: 'custom.owners' entry {owner!r} must be an email address or a team name "
                "prefixed with 'team:' (e.g. \"team:brody-lab\" or \"manager@princeton.edu\")"
            )
    return tuple(value)


def load_owners(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The asset owners from ``custom.owners``, read when the Definitions load.

    Reads only that key (no passwords are needed to know who owns the assets); without a config
    file, or without the key, the default :data:`DEFAULT_OWNERS`. A malformed value is an error
    naming the key.
    """
    env = os.environ if env is None else env
    path = Path(path) if path is not None else config_path(env)
    if not path.is_file():
        return DEFAULT_OWNERS
    raw = _read_json(path)
    custom = raw.get("custom", {}) if isinstance(raw, dict) else {}
    return _owners(custom.get("owners") if isinstance(custom, dict) else None, str(path))


def _database(
    values: Mapping[str, Any],
    name: str,
    where: str,
    tls: Any,
    fallback: DatabaseSettings | None = None,
) -> DatabaseSettings:
    host = values.get(f"{name}.host", fallback.host if fallback else None)
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"{where}: '{name}.host' is required (the MySQL server's host name)")
    host = host.strip()
    port: Any = values.get(f"{name}.port")
    if ":" in host:  # the lab writes "datajoint01.pni.princeton.edu:3306"
        host, _, inline_port = host.partition(":")
        port = port if port is not None else inline_port
    if port is None:
        # No host of its own: the fallback's server. A host of its own: that host's default port.
        port = fallback.port if fallback and f"{name}.host" not in values else 3306
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: '{name}.port' must be an integer, got {port!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: '{name}.port' must be between 1 and 65535, got {port}")
    user = values.get(f"{name}.user")
    if not isinstance(user, str) or not user:
        raise ConfigError(f"{where}: '{name}.user' is required")
    password = values.get(f"{name}.password")
    if not isinstance(password, str):
        raise ConfigError(
            f"{where}: '{name}.password' is required (a string; it may also come from the "
            "environment: DJ_PASS / BRODY_LEGACY_PASSWORD)"
        )
    if not isinstance(tls, bool):
        raise ConfigError(f"{where}: '{name}.use_tls' must be true or false")
    return DatabaseSettings(host=host, port=port, user=user, password=Secret(password), use_tls=tls)


def check_schema_prefix(value: Any, key: str, allow_empty: bool = False) -> str:
    """A schema prefix safe to put in names and GRANTs: a letter, then letters, digits and ``_``.

    An empty prefix would make the pipeline's grants cover every schema on the server, and ``%``,
    quotes or backticks could widen or break them, so those are refused (only the legacy prefix may
    be empty: the legacy schema names are then exactly ``bdata``, ``ratinfo``, ``protocol``).
    """
    if allow_empty and value == "":
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(f"'{key}' must not be empty (a prefix such as 'bl_new_'), got {value!r}")
    if not _SCHEMA_PREFIX.match(value):
        raise ConfigError(
            f"'{key}' must start with a letter and contain only letters, digits and underscores "
            f"(no '%', quotes or backticks), got {value!r}"
        )
    if len(value) > MAX_PREFIX_LENGTH:
        raise ConfigError(f"'{key}' must be at most {MAX_PREFIX_LENGTH} characters, got {len(value)}")
    return value


def check_prefixes(new_prefix: Any, shadow_prefix: Any, legacy_prefix: Any) -> None:
    """Validate the three prefixes together (config validation and bootstrap both call this)."""
    check_schema_prefix(new_prefix, "custom.database.prefix")
    check_schema_prefix(shadow_prefix, "custom.database.shadow_prefix")
    check_schema_prefix(legacy_prefix, "custom.legacy.schema_prefix", allow_empty=True)
    if new_prefix == shadow_prefix:
        raise ConfigError(
            "'custom.database.prefix' and 'custom.database.shadow_prefix' must differ, both are "
            f"{new_prefix!r}"
        )


def _flag(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    raise ConfigError(f"{where}: '{key}' must be true or false, got {value!r}")


def _path(value: Any, base: Path) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else (base / path).resolve()
