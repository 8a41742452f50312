"""The drive-root check on real folders: missing, a file, unreadable, empty, healthy."""

from __future__ import annotations

import os
from pathlib import Path

from brody_assets.config import DatabaseSettings, Secret, Settings
from brody_assets.drives_check import blocking_drive_problems, check_drive_roots, check_root


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


def _check_as_nobody(path):
    """check_root run in a child process that has dropped to the unprivileged user ``nobody``.

    Root reads every folder, and CI runs as root: the child gives up root first, so the
    permission check meets the kernel's real answer instead of being skipped.
    """
    import pwd

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, check, report, exit without running pytest's teardown
        code = 0
        try:
            os.close(read_end)
            nobody = pwd.getpwnam("nobody")
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            problem = check_root("archive", path)
            os.write(write_end, (problem.problem if problem else "no problem").encode())
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            os.write(write_end, f"child failed: {error!r}".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text


def test_an_unreadable_root():
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="brody-drive-"))  # under /tmp, traversable by everyone
    try:
        base.chmod(0o755)
        locked = _drive(base / "locked")
        locked.chmod(0)
        if os.geteuid() == 0:
            text = _check_as_nobody(locked)
        else:
            problem = check_root("archive", locked)
            text = problem.problem if problem else "no problem"
        assert "cannot be read" in text, text
        locked.chmod(0o755)
        assert check_root("archive", locked) is None  # the same folder, readable again: no problem
    finally:
        import shutil

        (base / "locked").chmod(0o755)
        shutil.rmtree(base)
