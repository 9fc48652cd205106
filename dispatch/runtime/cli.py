"""The ``carebell`` command: serve, plan, devices, broker-auth.

Other packages add commands of their own through the ``carebell.commands``
entry-point group (pyproject.toml): the simulators add demo and simulate, so the
product's command line never imports them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

import typer

from config.settings import Settings
from dispatch.domain.access import Role
from dispatch.errors import CareBellError
from dispatch.registry import accounts, privacy, provisioning, workforce
from dispatch.runtime.catalog_file import load_catalog
from dispatch.runtime.summaries import summaries
from dispatch.store import backup, sealed
from dispatch.store.db import Database

cli = typer.Typer(
    help="CareBell: emergency alerts and caregiver dispatch for home-based elderly care.",
    no_args_is_help=True,
    add_completion=False,
)
log = logging.getLogger("carebell")


# Libraries whose INFO lines are one per request: kept for --log-level debug.
CHATTY_LOGGERS = ("httpx", "httpcore", "websockets", "aiortc", "aioice", "amqtt", "alembic")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def settings_with(**options: object) -> Settings:
    """The settings, with the command-line options that were given on top.

    One rule for every command: an option given on the command line, then the
    CAREBELL_* environment, then the config file (CAREBELL_CONFIG_FILE), then
    the default. An option left out is None and overrides nothing."""
    given = {name: value for name, value in options.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides CAREBELL_HTTP_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides CAREBELL_HTTP_PORT.")] = None,
    log_level: str = "info",
) -> None:
    """Run the server: REST API, WebSocket hub, MQTT gateway and dispatcher.

    Everything is configured by CAREBELL_* environment variables (see
    docs/operations.md); CAREBELL_ROLES='["api"]' and the like split the parts
    across processes.
    """
    # Here, not at the top: every other command (and --help) would import the
    # whole server first (seconds of CPU).
    import uvicorn

    from dispatch.runtime.app import create_app

    configure_logging(log_level)
    settings = settings_with(http_host=host, http_port=port)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=log_level,
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )


devices_cli = typer.Typer(help="Register devices from a CSV, deactivate them.")
cli.add_typer(devices_cli, name="devices")


def _database() -> Database:
    settings = Settings()
    sealed.use_keys(settings.data_keys)
    db = Database(settings.database_url)
    db.create_schema()
    return db


@devices_cli.command("import")
def import_devices(
    csv_file: Annotated[Path, typer.Argument(help="device_id,kind[,elder_id] with a header.")],
    credentials_out: Annotated[
        Path | None, typer.Option(help="Write the new devices' passwords here (CSV).")
    ] = None,
) -> None:
    """Register the devices of a CSV file; report every row, issue each new device
    its broker password once. Exits 1 if any row failed."""
    settings = Settings()
    db = _database()
    rows = provisioning.import_csv(
        db, load_catalog(settings.alert_types_file), csv_file.read_text(encoding="utf-8-sig")
    )
    for row in rows:
        mark = "ok  " if row.ok else "FAIL"
        typer.echo(f"{mark} line {row.line} {row.device_id} {row.error}".rstrip())
    created = [r for r in rows if r.ok]
    if credentials_out is not None:
        lines = ["device_id,username,password"] + [
            f"{r.device_id},{r.device_id},{r.password}" for r in created
        ]
        credentials_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        credentials_out.chmod(0o600)
    typer.echo(f"{len(created)} created, {len(rows) - len(created)} failed")
    db.dispose()
    raise typer.Exit(0 if len(created) == len(rows) else 1)


@devices_cli.command("deactivate")
def deactivate_device(device_id: str) -> None:
    """Stop accepting a device's messages and remove its broker login."""
    db = _database()
    provisioning.deactivate(db, device_id)
    typer.echo(f"{device_id} deactivated; run `carebell broker-auth` to update the broker")
    db.dispose()


users_cli = typer.Typer(help="Accounts: the first administrator, and others from the shell.")
cli.add_typer(users_cli, name="users")


@users_cli.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="The log-in name.")],
    role: Annotated[Role, typer.Option(help="What the account may do.")],
    display_name: Annotated[str, typer.Option(help="The name shown on the pages.")] = "",
    area: Annotated[
        list[str] | None, typer.Option(help="An area it covers (repeat); operators.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Its provider's id or name; provider staff.")
    ] = None,
    caregiver: Annotated[
        UUID | None, typer.Option(help="The caregiver's record it logs in as; caregivers.")
    ] = None,
    email: Annotated[
        str, typer.Option(help="Its e-mail address; a supervisor's summaries go there.")
    ] = "",
    locale: Annotated[str, typer.Option(help="Its language: zh-CN or en.")] = "zh-CN",
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead.")
    ] = False,
) -> None:
    """Create an account: the first administrator of a fresh install, for one.

    Prints a one-time password, which must be changed at the first log-in; with
    --password-stdin the password read (it must pass the policy) is kept as it is.
    """
    if locale not in ("zh-CN", "en"):
        raise typer.BadParameter(f"--locale {locale!r}: zh-CN or en")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    db = _database()
    try:
        provider_id = None if provider is None else workforce.provider_id_of(db, provider)
        new = accounts.NewAccount(
            username,
            role,
            display_name,
            tuple(area or ()),
            caregiver_id=caregiver,
            provider_id=provider_id,
            locale=locale,
            email=email,
        )
        user, once = accounts.add_account(db, new, now=datetime.now(UTC), password=password)
    except CareBellError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(f"{user.username} ({user.role}) created")
    if once is not None:
        typer.echo(f"one-time password: {once}")
        typer.echo("it must be changed at the first log-in")


@users_cli.command("reset")
def reset_user(username: str) -> None:
    """Give an account a new one-time password (its sessions end; it must be changed)."""
    db = _database()
    try:
        change = accounts.AccountChange(reset_password=True)
        _user, once = accounts.change_account(db, username, change, by="cli", now=datetime.now(UTC))
    except CareBellError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(f"one-time password: {once}")


@users_cli.command("list")
def list_users() -> None:
    """Every account: name, role, areas, whether it is active."""
    db = _database()
    for user in accounts.list_users(db):
        state = "active" if user.active else "disabled"
        typer.echo(f"{user.username}\t{user.role}\t{','.join(user.areas)}\t{state}")
    db.dispose()


@cli.command("backup")
def backup_command(
    target: Annotated[Path, typer.Argument(help="The backup file to write (never overwritten).")],
) -> None:
    """Back up the database (CAREBELL_DATABASE_URL) while the server runs: SQLite's
    online backup, or pg_dump's custom format. docs/operations.md, "Backups"."""
    try:
        backup.backup(Settings().database_url, target)
    except backup.BackupError as exc:
        typer.echo(f"carebell backup: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backed up to {target} ({target.stat().st_size:,} bytes)")


@cli.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="A file `carebell backup` wrote.")],
) -> None:
    """Restore a backup into CAREBELL_DATABASE_URL, which must be a fresh, empty
    database; the server brings its schema up to date when it starts."""
    try:
        backup.restore(source, Settings().database_url)
    except backup.BackupError as exc:
        typer.echo(f"carebell restore: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored {source}")


keys_cli = typer.Typer(help="The keys sealing sensitive fields at rest (docs/privacy.md).")
cli.add_typer(keys_cli, name="keys")


@keys_cli.command("new")
def new_key() -> None:
    """Print a new key: put it first in CAREBELL_DATA_KEYS, then run `keys rotate`."""
    typer.echo(sealed.new_key())


@keys_cli.command("rotate")
def rotate_keys() -> None:
    """Re-seal every sealed field with the newest key (and seal values stored plain).

    Afterwards the keys after the first may be removed from CAREBELL_DATA_KEYS.
    """
    if not Settings().data_keys:
        typer.echo("refused: CAREBELL_DATA_KEYS is empty", err=True)
        raise typer.Exit(1)
    db = _database()
    try:
        count = privacy.reseal_all(db)
    except sealed.SealError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(f"{count} records sealed with the newest key")


@cli.command("plan")
def plan(
    day: Annotated[str, typer.Option(help="The day to plan, YYYY-MM-DD (default: tomorrow).")] = "",
    time_limit_s: Annotated[float, typer.Option(help="Seconds the solver may use.")] = 30.0,
) -> None:
    """Plan a day's home visits into caregivers' routes (run each evening for tomorrow).

    Caregivers' apps read the new routes when they next connect; a server running
    beside it pushes nothing for a plan made here.
    """
    from dispatch.homecare.menu import load_menu
    from dispatch.homecare.planner import plan_day  # the planner: numba, OR-Tools
    from dispatch.matching.travel import DetourTravelModel

    settings = Settings()
    tz = ZoneInfo(settings.timezone)
    which = date.fromisoformat(day) if day else datetime.now(tz).date() + timedelta(days=1)
    db = _database()
    outcome = plan_day(
        db,
        load_menu(settings.services_file),
        DetourTravelModel(),
        which,
        tz,
        time_limit_s=time_limit_s,
    )
    db.dispose()
    typer.echo(
        f"{which}: {outcome.planned} visits on routes, {len(outcome.unplanned)} left unplanned, "
        f"{len(outcome.changed)} routes changed, {outcome.travel_s / 3600:.1f} h of travel"
    )


@cli.command("broker-auth")
def broker_auth(
    out: Annotated[Path, typer.Option(help="Folder for the passwd and acl files.")],
    server_user: Annotated[str, typer.Option(help="The server's broker account.")] = (
        "carebell-server"
    ),
    server_password: Annotated[
        str, typer.Option(envvar="CAREBELL_BROKER_PASSWORD", help="Its password.")
    ] = "",
) -> None:
    """Write the broker's accounts and ACL from the registry (docs/devices.md):
    dynamic-security.json, which config/mosquitto.conf loads, and the same as a
    plain passwd and acl."""
    if not server_password:
        raise typer.BadParameter("set CAREBELL_BROKER_PASSWORD or --server-password")
    db = _database()
    files = provisioning.broker_files(db, server_user, server_password)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        if name != "acl":
            (out / name).chmod(0o600)  # password hashes
    accounts = files["passwd"].count(chr(10))
    typer.echo(f"{accounts} accounts written to {out}/ ({', '.join(sorted(files))})")
    db.dispose()


cli.command("summaries")(summaries)


COMMANDS_GROUP = "carebell.commands"


def add_registered_commands(app: typer.Typer) -> None:
    """Let each entry point of ``carebell.commands`` add its commands to ``app``."""
    for entry in entry_points(group=COMMANDS_GROUP):
        register: Callable[[typer.Typer], None] = entry.load()
        register(app)


def main() -> None:
    add_registered_commands(cli)
    cli()
