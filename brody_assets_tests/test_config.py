"""The lab's dj_local_conf.json: read as is, overridden from the environment, validated once."""

from __future__ import annotations

import json
import shutil

import pytest

from brody_assets.config import PROJECT_ROOT, ConfigError, load_settings

TEMPLATE = PROJECT_ROOT / "resources" / "dj_local_conf.json"


def _write(tmp_path, data) -> str:
    path = tmp_path / "dj_local_conf.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def _template() -> dict:
    return json.loads(TEMPLATE.read_text())


def test_template_loads_in_the_lab_format(tmp_path):
    target = tmp_path / "dj_local_conf.json"
    shutil.copy(TEMPLATE, target)
    settings = load_settings(target, env={})
    assert settings.database.host == "127.0.0.1"
    assert settings.database.port == 33306
    assert settings.new_prefix == "bl_new_"
    assert settings.shadow_prefix == "bl_shadow_"
    assert settings.legacy.user == "brody_legacy_ro"
    assert settings.legacy_schema("bdata") == "bdata"
    # relative drive roots resolve against the config file's folder
    assert settings.archive_root == tmp_path / ".brody" / "drives" / "archive"
    assert settings.cup_root == tmp_path / ".brody" / "drives" / "cup"
    assert settings.datajoint["display.limit"] == 7


def test_lab_host_with_inline_port_and_single_root_string(tmp_path):
    data = _template()
    data["database.host"] = "datajoint01.pni.princeton.edu:3306"
    del data["database.port"]
    data["custom"]["ephys_root_data_dir"] = "/mnt/archive/brody/RATTER/PhysData/Raw/"
    settings = load_settings(_write(tmp_path, data), env={})
    assert (settings.database.host, settings.database.port) == ("datajoint01.pni.princeton.edu", 3306)
    assert str(settings.archive_root) == "/mnt/archive/brody/RATTER/PhysData/Raw"
    assert settings.cup_root is None


def test_environment_overrides(tmp_path):
    env = {
        "DJ_HOST": "db.example.org",
        "DJ_PORT": "3307",
        "DJ_USER": "alice",
        "DJ_PASS": "from-env",
        "BRODY_LEGACY_SCHEMA_PREFIX": "alvaros_",
        "BRODY_DB_PREFIX": "test_new_",
        "BRODY_CUP_ROOT": "/srv/cup",
    }
    settings = load_settings(_write(tmp_path, _template()), env=env)
    assert settings.database.describe() == "alice@db.example.org:3307"
    assert settings.database.password.reveal() == "from-env"
    assert settings.legacy_schema("ratinfo") == "alvaros_ratinfo"
    assert settings.new_prefix == "test_new_"
    assert str(settings.cup_root) == "/srv/cup"


def test_config_file_from_environment_variable(tmp_path, monkeypatch):
    path = _write(tmp_path, _template())
    monkeypatch.setenv("BRODY_CONFIG", path)
    monkeypatch.chdir(tmp_path.parent)
    assert load_settings().source == tmp_path / "dj_local_conf.json"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update({"database.port": "abc"}), r"'database.port' must be an integer, got 'abc'"),
        (lambda d: d.update({"database.port": 70000}), r"'database.port' must be between 1 and 65535"),
        (lambda d: d.pop("database.user"), r"'database.user' is required"),
        (lambda d: d.pop("database.host"), r"'database.host' is required"),
        (lambda d: d.pop("database.password"), r"'database.password' is required"),
        (lambda d: d["custom"].pop("legacy.database.user"), r"'legacy.database.user' is required"),
        (lambda d: d["custom"].update({"database.prefix": "bl-new;"}), r"'custom.database.prefix' must start with a letter"),
        (lambda d: d["custom"].update({"database.prefix": ""}), r"'custom.database.prefix' must not be empty"),
        (lambda d: d["custom"].update({"database.shadow_prefix": ""}), r"'custom.database.shadow_prefix' must not be empty"),
        (lambda d: d["custom"].update({"database.prefix": "bl%"}), r"'custom.database.prefix' .*no '%'"),
        (lambda d: d["custom"].update({"database.prefix": "_"}), r"'custom.database.prefix' must start with a letter"),
        (lambda d: d["custom"].update({"database.prefix": "bl`x"}), r"'custom.database.prefix' must start"),
        (lambda d: d["custom"].update({"database.shadow_prefix": "it's_"}), r"'custom.database.shadow_prefix' must start"),
        (lambda d: d["custom"].update({"legacy.schema_prefix": "a%"}), r"'custom.legacy.schema_prefix' must start"),
        (lambda d: d["custom"].update({"database.prefix": "x" * 41}), r"at most 40 characters"),
        (lambda d: d["custom"].update({"database.shadow_prefix": "bl_new_"}), r"must differ"),
        (lambda d: d["custom"].update({"legacy.allow_writable_account": "maybe"}), r"'custom.legacy.allow_writable_account' must be true or false"),
        (lambda d: d["custom"].update({"ephys_root_data_dir": {"a": 1}}), r"'custom.ephys_root_data_dir' must be a list"),
        (lambda d: d.update({"database.use_tls": "yes"}), r"'database.use_tls' must be true or false"),
        (lambda d: d.update({"custom": []}), r"'custom' must be an object"),
    ],
)
def test_bad_values_name_the_key(tmp_path, mutate, message):
    data = _template()
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, data), env={})


def test_legacy_port_follows_the_legacy_host(tmp_path):
    """No legacy host: the pipeline's server and port. A legacy host without a port: 3306, that
    host's default, never the pipeline's (33306) silently."""
    data = _template()
    assert "legacy.database.port" not in data["custom"] and "legacy.database.host" not in data["custom"]
    data["database.port"] = 33999
    settings = load_settings(_write(tmp_path, data), env={})
    assert (settings.legacy.host, settings.legacy.port) == ("127.0.0.1", 33999)
    assert settings.legacy_on_pipeline_server
    data["custom"]["legacy.database.host"] = "bdata00.pni.princeton.edu"
    settings = load_settings(_write(tmp_path, data), env={})
    assert (settings.legacy.host, settings.legacy.port) == ("bdata00.pni.princeton.edu", 3306)
    assert not settings.legacy_on_pipeline_server
    data["custom"]["legacy.database.host"] = "127.0.0.1"  # named explicitly: still its own default
    assert load_settings(_write(tmp_path, data), env={}).legacy.port == 3306
    data["custom"]["legacy.database.host"] = "bdata00:3307"
    assert load_settings(_write(tmp_path, data), env={}).legacy.port == 3307
    settings = load_settings(_write(tmp_path, _template()), env={"BRODY_LEGACY_HOST": "localhost",
                                                                   "BRODY_LEGACY_PORT": "33306"})
    assert settings.legacy_on_pipeline_server  # localhost and 127.0.0.1 are one host


def test_writable_legacy_account_setting(tmp_path):
    data = _template()
    assert load_settings(_write(tmp_path, data), env={}).legacy_allow_writable is False
    data["custom"]["legacy.allow_writable_account"] = True
    assert load_settings(_write(tmp_path, data), env={}).legacy_allow_writable is True
    env = {"BRODY_LEGACY_ALLOW_WRITABLE": "true"}
    assert load_settings(_write(tmp_path, _template()), env=env).legacy_allow_writable is True


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="No configuration file at .*resources/dj_local_conf.json"):
        load_settings(tmp_path / "nope.json", env={})
    with pytest.raises(ConfigError, match=r"not valid JSON: .* line 2"):
        load_settings(_write(tmp_path, '{\n  "database.host": ,\n}'), env={})
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        load_settings(_write(tmp_path, "[1, 2]"), env={})


def test_passwords_never_show(tmp_path):
    data = _template()
    data["database.password"] = "hunter2-pipeline"
    data["custom"]["legacy.database.password"] = "hunter2-legacy"
    settings = load_settings(_write(tmp_path, data), env={})
    shown = repr(settings) + str(settings) + repr(settings.database) + str(settings.legacy.password)
    assert "hunter2" not in shown
    assert settings.datajoint_config()["database.password"] == "hunter2-pipeline"


def test_use_tls_is_what_every_connection_asks_for(mariadb_server, prefix_factory):
    """``use_tls: false`` connects without TLS (PyMySQL would otherwise try it, building a
    certificate context per connection); ``true`` requires it, so a server without TLS refuses."""
    import dataclasses

    import pymysql
    import sqlalchemy as sa

    from brody_assets.db import bootstrap
    from brody_assets.integrity.runner import _url
    from brody_assets.migration.engine.db import Db
    from brody_assets_tests.conftest import make_settings

    settings = make_settings(mariadb_server, prefix_factory())
    with mariadb_server.admin_connect() as admin:
        bootstrap(admin, settings)
    plain = settings.database
    assert plain.tls_options() == {"ssl_disabled": True} and plain.tls_query() == "ssl_disabled=true"
    db = Db(plain)
    assert db.query("SELECT 1") == [(1,)] and not db.conn.ssl
    db.close()
    with sa.create_engine(_url(plain)).connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        assert not conn.connection.dbapi_connection.ssl
    required = dataclasses.replace(plain, use_tls=True)
    assert required.tls_options() == {"ssl": {"check_hostname": False}}
    with pytest.raises(pymysql.err.OperationalError, match="SSL is required"):
        Db(required, max_retries=0)
    with pytest.raises(sa.exc.OperationalError, match="SSL is required"):
        sa.create_engine(_url(required)).connect()


def test_owners_come_from_custom_owners(tmp_path):
    from brody_assets.config import DEFAULT_OWNERS, ConfigError, load_owners

    assert load_owners(tmp_path / "absent.json", env={}) == DEFAULT_OWNERS
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"custom": {"owners": ["team:brody-lab", "manager@princeton.edu"]}}))
    assert load_owners(conf, env={}) == ("team:brody-lab", "manager@princeton.edu")
    conf.write_text(json.dumps({"custom": {"owners": ["Brody Lab"]}}))
    with pytest.raises(ConfigError, match=r"custom.owners.*'Brody Lab'.*team:"):
        load_owners(conf, env={})
    template = json.loads((PROJECT_ROOT / "resources" / "dj_local_conf.json").read_text())
    assert template["custom"]["owners"] == list(DEFAULT_OWNERS)
