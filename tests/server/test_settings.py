"""The server's two command lines, ``python -m submarine.server`` and ``submarine server``:
built from one option table, they take the same flags and make the same settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from submarine._server_options import SERVER_OPTIONS
from submarine.cli._app import app, run
from submarine.server import Settings
from submarine.server.settings import build_parser, settings_from_args

FLAGS = {option.flag for option in SERVER_OPTIONS}


def cli_flags() -> set[str]:
    """The flags ``submarine server`` takes (its help flags aside)."""
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    server = command.commands["server"]
    return {flag for param in server.params for flag in param.opts} - {"--help"}


def module_flags() -> set[str]:
    """The flags ``python -m submarine.server`` takes (its help flags aside)."""
    return {
        flag
        for action in build_parser()._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help")
    }


def test_both_command_lines_take_the_flags_of_the_table() -> None:
    assert len(FLAGS) == len(SERVER_OPTIONS)
    assert module_flags() == FLAGS
    assert cli_flags() == FLAGS


def test_every_option_sets_a_setting_or_is_the_file_of_a_secret() -> None:
    fields = set(Settings.__dataclass_fields__)
    secrets = [option for option in SERVER_OPTIONS if option.secret]
    assert [option.flag for option in secrets] == ["--token", "--password"]
    assert {f"{option.flag}-file" for option in secrets} <= FLAGS
    files = {f"{option.field}_file" for option in secrets}
    assert {option.field for option in SERVER_OPTIONS} - files <= fields


class Served:
    """Stands in for ``serve``: keeps the settings ``submarine server`` would serve."""

    def __init__(self) -> None:
        self.settings: list[Settings] = []

    def __call__(self, settings: Settings) -> None:
        self.settings.append(settings)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Served:
    import submarine.server

    fake = Served()
    monkeypatch.setattr(submarine.server, "serve", fake)
    monkeypatch.setenv("SUBMARINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SUBMARINE_TOKEN", "token-from-the-env")
    monkeypatch.chdir(tmp_path)
    return fake


def test_both_command_lines_make_the_same_settings(served: Served, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    argv = [
        "--host", "0.0.0.0", "--port", "0", "--data-dir", "data", "--insecure",
        "--username", "ada", "--password", "pw", "--cpus", "1.5", "--memory", "16G",
        "--gpus", "2", "--workdir", "work", "--grace-period", "0.25",
        "--allow-origin", "http://localhost:3000", "--allow-origin", "https://a.test",
        "--allow-host", "box.lan", "--header-timeout", "2.5", "--max-connections", "64",
        "--body-timeout", "4", "--max-replicas", "7", "--backend", "ray",
        "--ray-address", "127.0.0.1:6379", "--ray-placement", "pack",
        "--tracking-max-records", "1000", "--tracking-max-bytes", "64M",
        "--stop-experiments", "--backfill-window", "90",
        "--artifact-max-bytes", "3G", "--loop", "asyncio",
    ]  # fmt: skip
    assert {arg for arg in argv if arg.startswith("--")} == FLAGS - {
        "--token",
        "--token-file",
        "--password-file",
        "--no-auth",  # contradicts a token and a user: tested on its own
    }
    assert run(["server", *argv]) == 0
    (from_cli,) = served.settings
    from_module = settings_from_args(argv)
    assert from_cli == from_module
    assert from_cli == Settings(
        host="0.0.0.0",
        port=0,
        data_dir=(tmp_path / "data").resolve(),
        token="token-from-the-env",
        insecure=True,
        username="ada",
        password="pw",
        cpus=1.5,
        memory_bytes=16 << 30,
        gpus=2,
        workdir=(tmp_path / "work").resolve(),
        grace_period=0.25,
        allow_origins=("http://localhost:3000", "https://a.test"),
        allow_hosts=("box.lan",),
        header_timeout=2.5,
        body_timeout=4.0,
        max_connections=64,
        max_replicas=7,
        backend="ray",
        ray_address="127.0.0.1:6379",
        ray_placement="PACK",
        tracking_max_records=1000,
        tracking_max_bytes=64 << 20,
        stop_experiments=True,
        backfill_window=90.0,
        artifact_max_bytes=3 << 30,
        event_loop="asyncio",
    )
    assert run(["server", "--token", "token-from-the-flag"]) == 0
    assert served.settings[-1] == settings_from_args(["--token", "token-from-the-flag"])
    assert served.settings[-1].token == "token-from-the-flag"
    assert served.settings[-1].data_dir == (tmp_path / "home").resolve()


def test_the_refusal_to_bind_names_flags_that_both_command_lines_take(
    served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUBMARINE_TOKEN")
    assert run(["server", "--host", "0.0.0.0"]) == 3
    message = capsys.readouterr().err
    assert message.startswith("error: refusing to listen on 0.0.0.0: ")
    named = set(re.findall(r"--[a-z-]+", message))
    assert named == {"--token", "--insecure"}
    assert named <= cli_flags()
    assert named <= module_flags()
    # What it says works, on both.
    assert run(["server", "--host", "0.0.0.0", "--insecure"]) == 0
    assert run(["server", "--host", "0.0.0.0", "--token", "a-token-of-the-user"]) == 0
    assert [s.bind_problem() for s in served.settings] == [None, None]
    assert settings_from_args(["--host", "0.0.0.0", "--insecure"]).bind_problem() is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memory", "1.5G"], "--memory '1.5G' is not a size: write a number of bytes"),
        (["--cpus", "-1"], "--cpus '-1' is not a positive number"),
        (["--grace-period", "0"], "--grace-period '0' is not a positive number"),
        (["--gpus", "two"], "--gpus 'two' is not a whole number of 0 or more"),
        (["--port", "http"], "--port 'http' is not a port: give a whole number from 0 to 65535"),
        (["--port", "70000"], "port 70000 is out of range: use 0 to 65535"),
        (["--username", "ada"], "give both a username and a password, or neither"),
        (["--token", ""], "the token is empty"),
        (["--token", "short"], "--token (its value not shown) has 5 characters: give at least 16"),
        (["--token", " a-token-of-the-user"], "--token (its value not shown) has whitespace"),
        (["--no-auth"], "--no-auth and a token contradict each other"),  # $SUBMARINE_TOKEN
        (["--data-dir", "a-file"], "--data-dir 'a-file' is a file: give a directory"),
        (["--allow-origin", "evil.test"], "--allow-origin 'evil.test' is not an origin: write"),
        (["--allow-origin", "http://a.test/x"], "--allow-origin 'http://a.test/x' is not an"),
        (["--allow-host", "a b"], "--allow-host 'a b' is not a host name: write the name"),
        (["--header-timeout", "0"], "--header-timeout '0' is not a positive number"),
        (["--body-timeout", "-1"], "--body-timeout '-1' is not a positive number"),
        (["--max-connections", "0"], "--max-connections '0' is not a whole number of 1 or"),
        (["--max-replicas", "0"], "--max-replicas '0' is not a whole number of 1 or more"),
        (["--backfill-window", "0"], "--backfill-window '0' is not a positive number"),
        (["--loop", "trio"], "--loop 'trio' is not a loop: use one of auto, uvloop, asyncio"),
        (["--tracking-max-records", "0"], "--tracking-max-records '0' is not a whole number"),
        (["--tracking-max-bytes", "lots"], "--tracking-max-bytes 'lots' is not a size: write"),
        (["--tracking-max-bytes", "0"], "tracking_max_records and tracking_max_bytes must be"),
        (["--token-file", "missing"], "--token-file 'missing' is not a file: give a file"),
        (["--token-file", "empty"], "--token-file 'empty' is empty: put the secret on its"),
        (
            ["--token", "a-token-of-the-user", "--token-file", "a-file"],
            "give --token or --token-file, not both",
        ),
        (
            ["--username", "u", "--password", "p", "--password-file", "a-file"],
            "give --password or --password-file, not both",
        ),
    ],
)
def test_bad_values_get_the_same_message_from_both(
    served: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "a-file").write_text("secret\n")
    (tmp_path / "empty").write_text("\n")
    assert run(["server", *argv]) == 3
    from_cli = capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        settings_from_args(argv)
    assert caught.value.code == 2
    from_module = capsys.readouterr().err.strip().splitlines()[-1]
    assert from_cli.startswith(f"error: {message}")
    assert from_cli.count("\n") == 1
    assert from_module == "python -m submarine.server: " + from_cli.strip()
    assert served.settings == []


def test_allowed_origins_add_up_from_flags_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUBMARINE_ALLOW_ORIGINS", "https://B.test, http://c.test:81")
    settings = settings_from_args(["--allow-origin", "http://a.test", "--allow-host", "x,y"])
    assert settings.allow_origins == ("http://a.test", "https://b.test", "http://c.test:81")
    assert settings.allow_hosts == ("x", "y")
    monkeypatch.setenv("SUBMARINE_ALLOW_ORIGINS", "no-scheme.test")
    with pytest.raises(SystemExit):
        settings_from_args([])


def test_the_environment_is_read_as_the_flags_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(SystemExit):
        settings_from_args([], {"SUBMARINE_HOME": str(tmp_path / "a-file")})
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f"error: $SUBMARINE_HOME: --data-dir {str(tmp_path / 'a-file')!r} is a file: give a "
            "directory"
        )
    )
    env = {"SUBMARINE_HOME": "~/elsewhere", "SUBMARINE_TOKEN": "a-token-of-the-user"}
    settings = settings_from_args(["--data-dir", str(tmp_path)], env)
    assert (settings.data_dir, settings.token) == (tmp_path.resolve(), "a-token-of-the-user")
    assert settings_from_args([], env).data_dir == (Path.home() / "elsewhere").resolve()


def test_both_helps_give_every_option_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["server", "--help"]) == 0
    helps = [capsys.readouterr().out, build_parser().format_help()]
    for text in ("".join(help.split()) for help in helps):  # as wrapped, anywhere
        for option in SERVER_OPTIONS:
            assert f"{option.flag}{option.metavar}{''.join(option.help.split())}" in text


def test_secrets_come_from_files_and_on_the_command_line_get_a_warning(
    served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file, password_file = tmp_path / "token", tmp_path / "password"
    token_file.write_text("tok-from-the-token-file\nignored second line\n")
    password_file.write_text("  pw-from-file  \n")
    token_file.chmod(0o600)
    password_file.chmod(0o644)
    argv = ["--token-file", str(token_file), "--username", "ada"]
    argv += ["--password-file", str(password_file)]
    with caplog.at_level("WARNING", logger="submarine.server.settings"):
        assert run(["server", *argv]) == 0
        from_module = settings_from_args(argv)
    assert served.settings == [from_module]
    assert (from_module.token, from_module.password) == ("tok-from-the-token-file", "pw-from-file")
    assert from_module.secrets == ("tok-from-the-token-file", "pw-from-file")
    warned = [r.getMessage() for r in caplog.records]
    # The password file is readable by others: said (twice: once per command line).
    assert len(warned) == 2
    assert all("--password-file" in w and "chmod 600" in w for w in warned)
    assert not any("tok-from-the-token-file" in w or "pw-from-file" in w for w in warned)

    caplog.clear()
    with caplog.at_level("WARNING", logger="submarine.server.settings"):
        given = settings_from_args(
            ["--token", "tok-on-the-command-line", "--username", "u", "--password", "pw"]
        )
    assert (given.token, given.password) == ("tok-on-the-command-line", "pw")
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert "--token on the command line can be read by every user" in warned[0]
    assert "--token-file or $SUBMARINE_TOKEN" in warned[0]
    assert "--password on the command line" in warned[1]
    assert not any("tok-on-the-command-line" in w or "pw " in w for w in warned)


def test_the_replica_cap_defaults_to_the_per_experiment_limit() -> None:
    from submarine.server.api.wire import MAX_REPLICAS

    assert Settings(data_dir=Path("/tmp/x")).max_replicas == MAX_REPLICAS
    with pytest.raises(ValueError, match="max_replicas must be at least 1, got 0"):
        Settings(data_dir=Path("/tmp/x"), max_replicas=0)
