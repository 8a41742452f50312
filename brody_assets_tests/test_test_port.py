"""The test server's port: the environment's, the running server's, or a free one recorded once."""

from __future__ import annotations

import socket

from brody_assets_tests.conftest import TEST_SERVER_HOME, choose_test_port


def test_the_environment_wins_and_nothing_is_recorded(tmp_path):
    assert choose_test_port(tmp_path, {"BRODY_TEST_DB_PORT": "40123"}) == 40123
    assert not (tmp_path / "port").exists()


def test_a_free_port_is_chosen_once_and_reused(tmp_path):
    first = choose_test_port(tmp_path / "home-a", {})
    assert (tmp_path / "home-a" / "port").read_text().strip() == str(first)
    assert choose_test_port(tmp_path / "home-a", {}) == first
    other = choose_test_port(tmp_path / "home-b", {})  # a second checkout
    assert other != first


def test_a_recorded_port_taken_by_another_program_is_replaced(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        (tmp_path / "port").write_text(f"{busy}\n")
        port = choose_test_port(tmp_path, {})
        assert port != busy
    assert (tmp_path / "port").read_text().strip() == str(port)


def test_the_running_test_server_is_found_again(mariadb_server):
    assert choose_test_port(TEST_SERVER_HOME, {}) == mariadb_server.port
