"""The drive-root check on real folders: missing, a file, unreadable, empty, healthy."""

from __future__ import annotations

import os

import pytest

from brody_assets.config import DatabaseSettings, Secret, Settings
from brody_assets.drives_check import blocking_drive_problems, check_drive_roots


def _settings(archive, cup) -> Settings:
    db = DatabaseSettings("127.0.0.1", 3306, "u", Secret("p"))
    return Settings(database=db, legacy=db, archive_root=archive, cup_root=cup)


def _drive(path):
    path.mkdir(parents=True)
    (path / "rat001").mkdir()
    return path


def test_healthy_roots_have_no_problem(tmp_path):
    assert check_drive_roots(_settings(_drive(tmp_path / "archive"), _drive(tmp_path / "cup"))) == []


def test_a_missing_root_is_a_blocking_problem_naming_the_drive_and_the_setting(tmp_path):
    problems = check_drive_roots(_settings(tmp_path / "not-mounted", _drive(tmp_path / "cup")))
    assert [p.drive for p in problems] == ["archive"] and problems[0].blocking
    text = problems[0].describe()
    assert "not-mounted" in text and "does not exist" in text and "custom.ephys_root_data_dir" in text
    assert blocking_drive_problems(_settings(tmp_path / "not-mounted", None))[1].describe().startswith(
        "cup drive (not configured)"
    )


def test_a_file_and_an_empty_mount_point(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    problems = {p.drive: p for p in check_drive_roots(_settings(tmp_path / "file", tmp_path / "empty"))}
    assert "not a folder" in problems["archive"].problem and problems["archive"].blocking
    assert "empty" in problems["cup"].problem and not problems["cup"].blocking


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_root(tmp_path):
    locked = _drive(tmp_path / "locked")
    locked.chmod(0)
    try:
        (problem,) = check_drive_roots(_settings(locked, _drive(tmp_path / "cup")))
        assert "cannot be read" in problem.problem
    finally:
        locked.chmod(0o755)
