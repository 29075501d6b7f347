"""``routekeeper``: serve, worker, db upgrade/check, accounts create/list/rotate-secret, roads
prepare, demo, geocoder build/serve/check/drop, keys rotate."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routekeeper.settings import Settings

# Everything heavier than the standard library is imported inside the command that needs
# it: the planner's solver processes are spawned, and a spawned process re-imports the
# script's main module (this one) before it can run; top-level imports of the web stack,
# Alembic and the models cost each solver process about 0.4 s of its time budget.


class CliError(Exception):
    """A failure to report in one line on stderr, with the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _settings(*, signing: bool = False) -> Settings:
    """The settings from the environment; with ``signing``, their signing keys are checked
    (and generated on first start), for the commands that sign or verify tokens."""
    from pydantic import ValidationError

    from routekeeper.core.signing_keys import SigningKeyError
    from routekeeper.settings import Settings

    try:
        settings = Settings()
        if signing:
            settings.signing_keys  # noqa: B018 - refuse a bad key or key file before serving
        return settings
    except SigningKeyError as exc:
        raise CliError(f"invalid settings: {exc}", status=2) from exc
    except ValidationError as exc:
        problems = "; ".join(
            str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise CliError(f"invalid settings: {problems}", status=2) from exc


def _configure_logging(settings: Settings) -> None:
    from routekeeper.core.logs import configure

    configure(settings.log)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API (and, unless --no-worker, the background worker) with uvicorn."""
    import uvicorn

    from routekeeper.app import create_app
    from routekeeper.core.http_protocol import CorkedHttpToolsProtocol
    from routekeeper.core.public_url import bound_url
    from routekeeper.db import migrate
    from routekeeper.travel.runtime import TravelRuntime

    settings = _settings(signing=True)
    # A missing dataset or OSRM install is reported in one line before anything starts.
    _travel_runtime(TravelRuntime, settings).stop()
    migrate.upgrade(settings.database.url)
    # Bind first, so links name the port actually bound (also when asked for port 0).
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    bound = bound_url(args.host, sock.getsockname()[1])
    settings = settings.model_copy(update={"bound_url": bound})
    print(f"listening on {bound}; links use {settings.public_url}", flush=True)
    # From here on every line is the service's own format (text or JSON, redacted).
    _configure_logging(settings)
    catcher = None
    if args.mail_catcher:
        from routekeeper.cli.mailcatcher import MailCatcher

        catcher = MailCatcher(Path(args.mail_catcher))
        mail_port = catcher.start()
        settings = settings.model_copy(update={"mail": settings.mail.model_copy(
            update={"host": "127.0.0.1", "port": mail_port})})
        print(f"mail is caught in {args.mail_catcher} (SMTP 127.0.0.1:{mail_port})",
              flush=True)
    # Without --no-worker the setting jobs.run_in_api decides (default: on).
    app = create_app(settings, run_worker=False if args.no_worker else None)
    # What start-up loaded lives as long as the process; the young are collected less often
    # (core/collector.py).
    from routekeeper.core import collector

    collector.settle()
    # Logging is ours (one structured line per request, redacted): uvicorn's own access
    # log and its logging config are off.
    # A response's headers and body leave in one write (core/http_protocol.py).
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, log_config=None,
                                           access_log=False, http=CorkedHttpToolsProtocol))
    try:
        server.run(sockets=[sock])
    finally:
        if catcher is not None:
            catcher.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run only the job worker until SIGINT/SIGTERM."""
    from routekeeper.db.engine import Database
    from routekeeper.travel.runtime import TravelRuntime
    from routekeeper.worker import start_runner

    settings = _settings(signing=True)
    _configure_logging(settings)
    db = Database(settings.database)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    travel = _travel_runtime(TravelRuntime, settings)
    travel.start()
    try:
        runner = start_runner(db, settings, args.concurrency, travel=travel.model)
        from routekeeper.core import collector

        collector.settle()  # as in cmd_serve
        print(f"worker {runner.worker_id} running", flush=True)
        stop.wait()
        runner.stop()
    finally:
        travel.stop()
        db.dispose()
    return 0


def _travel_runtime(factory: Any, settings: Settings) -> Any:
    """The travel runtime of the settings, or a CliError naming what is missing."""
    from routekeeper.travel.dataset import DatasetError

    try:
        return factory(settings.routing)
    except DatasetError as exc:
        raise CliError(str(exc), status=2) from exc


def cmd_roads_prepare(args: argparse.Namespace) -> int:
    """Build an OSRM dataset (MLD and CH) from an OpenStreetMap extract."""
    import logging

    from routekeeper.travel.dataset import DatasetError, OsrmTools, prepare

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = _settings()
    pbf = Path(args.pbf)
    out = Path(args.out) if args.out else Path("var/roads") / \
        f"{pbf.name.split('.')[0].lower()}-{args.profile}"
    try:
        base = prepare(pbf, profile=args.profile, out=out,
                       tools=OsrmTools(settings.routing.osrm_home),
                       small_component_size=args.small_component_size)
    except DatasetError as exc:
        raise CliError(str(exc)) from exc
    print(f"dataset ready: {out}")
    print(f"serve it with ROUTEKEEPER_ROUTING__DATASET={out} (base file {base.name})")
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    """Apply every migration."""
    from routekeeper.db import migrate
    migrate.upgrade(_settings().database.url)
    print("database is up to date")
    return 0


def cmd_db_check(_args: argparse.Namespace) -> int:
    """Fail when the models and the migrations disagree."""
    from alembic.util.exc import AutogenerateDiffsDetected, CommandError

    from routekeeper.db import migrate
    try:
        migrate.check(_settings().database.url)
    except AutogenerateDiffsDetected as exc:
        raise CliError(f"models and migrations disagree: {exc}") from exc
    except CommandError as exc:  # e.g. "Target database is not up to date."
        raise CliError(f"cannot compare models and migrations: {exc}") from exc
    print("models and migrations agree")
    return 0


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


def cmd_accounts_create(args: argparse.Namespace) -> int:
    """Create an account and print its credentials."""
    from routekeeper.accounts import service as accounts
    from routekeeper.db.engine import Database
    db = Database(_settings().database)
    with db.write() as session:
        creds = accounts.create_account(session, name=args.name, contact_email=args.email)
    db.dispose()
    _print({"account_id": creds.account_id, "secret_key": creds.secret_key,
            "name": creds.name}, args.json)
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    """List accounts (never their secrets)."""
    from routekeeper.accounts import service as accounts
    from routekeeper.db.engine import Database
    db = Database(_settings().database)
    with db.read() as session:
        rows = [{"account_id": a.account_id, "name": a.name, "contact_email": a.contact_email,
                 "created_at": a.created_at.isoformat()} for a in accounts.list_accounts(session)]
    db.dispose()
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['account_id']}  {row['name']}  {row['contact_email'] or ''}")
    return 0


def cmd_accounts_rotate(args: argparse.Namespace) -> int:
    """Replace an account's secret key and print the new one."""
    from routekeeper.accounts import service as accounts
    from routekeeper.db.engine import Database
    db = Database(_settings().database)
    with db.write() as session:
        creds = accounts.rotate_secret(session, args.account_id)
    db.dispose()
    if creds is None:
        print(f"no account {args.account_id}", file=sys.stderr)
        return 1
    _print({"account_id": creds.account_id, "secret_key": creds.secret_key}, args.json)
    return 0


def cmd_webhooks_add(args: argparse.Namespace) -> int:
    """Add an account's webhook URL (what HyperTrack users set in its dashboard) and print
    the endpoint with its signing secret."""
    from pydantic import ValidationError

    from routekeeper.core.errors import ApiError
    from routekeeper.db.engine import Database
    from routekeeper.models.account import Account
    from routekeeper.webhooks import service as webhooks
    from routekeeper.webhooks.schemas import EndpointCreate

    settings = _settings()
    try:
        body = EndpointCreate(url=args.url, description=args.description,
                              event_types=args.event_type or None)
    except ValidationError as exc:
        problems = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ")
                             for e in exc.errors())
        raise CliError(f"invalid webhook: {problems}", status=2) from exc
    db = Database(settings.database)
    try:
        with db.write() as session:
            if session.get(Account, args.account) is None:
                raise CliError(f"no account {args.account}")
            try:
                created = webhooks.create_endpoint(session, args.account, body,
                                                   settings.webhooks)
            except ApiError as exc:
                raise CliError(f"refused: {json.dumps(exc.body.get('detail'))}",
                               status=2) from exc
    finally:
        db.dispose()
    _print({"endpoint_id": created.id, "url": created.url, "secret": created.secret,
            "event_types": created.event_types}, args.json)
    return 0


def _read_demo_credentials(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    account_id, secret_key = data.get("account_id"), data.get("secret_key")
    if not isinstance(account_id, str) or not isinstance(secret_key, str):
        return None
    return {"account_id": account_id, "secret_key": secret_key}


def cmd_demo(args: argparse.Namespace) -> int:
    """Create the demo account once (with its Helsinki day) and print its credentials."""
    from routekeeper.accounts import service as accounts
    from routekeeper.core.clock import utcnow
    from routekeeper.db import migrate
    from routekeeper.db.engine import Database
    from routekeeper.demo import GROUP, seed
    path = Path(args.credentials_file)
    settings = _settings()
    migrate.upgrade(settings.database.url)
    db = Database(settings.database)
    data = _read_demo_credentials(path)
    if data is not None:
        with db.read() as session:
            account = accounts.authenticate(session, data["account_id"], data["secret_key"])
            if account is None:
                data = None  # another database, or the secret was rotated: make a new one
    if data is None:
        with db.write() as session:
            creds = accounts.create_account(session, name="Demo", contact_email=None)
        data = {"account_id": creds.account_id, "secret_key": creds.secret_key}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # the mode above only applies to a new file
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
    with db.write() as session:
        day = seed(session, data["account_id"], now=utcnow())
    db.dispose()
    if day is not None:
        print(f"Demo day {day.isoformat()} in central Helsinki: 30 orders, 3 workers, "
              f"planning queued (board: /board?date={day.isoformat()}&ops_group={GROUP})")
    print("Demo account (HTTP Basic AccountID:SecretKey):")
    print(f"  AccountID: {data['account_id']}")
    print(f"  SecretKey: {data['secret_key']}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Replace the generated signing key; the old one verifies for --grace-s more seconds."""
    from routekeeper.core.clock import utcnow
    from routekeeper.core.signing_keys import KEY_FILE_NAME, rotate_file

    settings = _settings(signing=True)
    if settings.secret_key is not None:
        raise CliError("ROUTEKEEPER_SECRET_KEY is set: rotate by moving it to "
                       "ROUTEKEEPER_PREVIOUS_SECRET_KEY (with "
                       "ROUTEKEEPER_PREVIOUS_SECRET_KEY_UNTIL) and setting a new "
                       "ROUTEKEEPER_SECRET_KEY", status=2)
    path = settings.data_directory / KEY_FILE_NAME
    rotated = rotate_file(path, grace_s=args.grace_s, now=utcnow())
    until = rotated.previous_until.isoformat() if rotated.previous_until else None
    _print({"key_file": str(path), "previous_accepted_until": until}, args.json)
    print("routekeeper: restart every API and worker process to sign with the new key",
          file=sys.stderr)
    return 0


def _group(sub: Any, name: str, help: str) -> Any:
    """A command group, ``routekeeper NAME COMMAND``: the subparsers its commands go in."""
    group = sub.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from routekeeper.travel.dataset import SMALL_COMPONENT_SIZE

    parser = argparse.ArgumentParser(prog="routekeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API and the worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="API only")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--mail-catcher", metavar="MBOX",
                       help="keep outgoing mail in this mbox file (a local SMTP catcher)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run only the background worker")
    worker.add_argument("--concurrency", type=int, default=None)
    worker.set_defaults(func=cmd_worker)

    db_sub = _group(sub, "db", "database commands")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    db_sub.add_parser("check", help="compare models and migrations").set_defaults(
        func=cmd_db_check
    )

    acc_sub = _group(sub, "accounts", "account commands")
    create = acc_sub.add_parser("create", help="create an account")
    create.add_argument("--name", required=True)
    create.add_argument("--email", default=None)
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=cmd_accounts_create)
    listing = acc_sub.add_parser("list", help="list accounts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_accounts_list)
    rotate = acc_sub.add_parser("rotate-secret", help="replace an account's secret key")
    rotate.add_argument("account_id")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=cmd_accounts_rotate)

    hooks_sub = _group(sub, "webhooks", "webhook endpoints of an account")
    add = hooks_sub.add_parser("add", help="send an account's events to a URL")
    add.add_argument("--account", required=True, help="the AccountID")
    add.add_argument("url", help="the receiving URL (https://...)")
    add.add_argument("--event-type", action="append", metavar="TYPE",
                     help="only these types or values (order, order.completed); repeatable")
    add.add_argument("--description", default=None)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_webhooks_add)

    roads_sub = _group(sub, "roads", "road network commands")
    prep = roads_sub.add_parser("prepare", help="build an OSRM dataset from an OSM extract")
    prep.add_argument("--pbf", required=True, help="an OpenStreetMap extract (.osm.pbf)")
    prep.add_argument("--profile", choices=("car", "bicycle", "foot"), default="car")
    prep.add_argument("--out", default=None, help="dataset folder (default var/roads/NAME-PROFILE)")
    prep.add_argument("--small-component-size", type=int, default=SMALL_COMPONENT_SIZE,
                      help="road parts with fewer nodes are not snapped to (osrm-extract)")
    prep.set_defaults(func=cmd_roads_prepare)

    keys_sub = _group(sub, "keys", "server signing key commands")
    rotate_key = keys_sub.add_parser("rotate", help="replace the generated signing key")
    # One week by default: the longest-lived signed thing is an export download link.
    rotate_key.add_argument("--grace-s", type=float, default=7 * 24 * 3600.0)
    rotate_key.add_argument("--json", action="store_true")
    rotate_key.set_defaults(func=cmd_keys_rotate)

    demo = sub.add_parser("demo", help="create the demo account once and print it")
    demo.add_argument("--credentials-file", default="./var/demo-credentials.json")
    demo.set_defaults(func=cmd_demo)

    from routekeeper.cli import geocoder

    geocoder.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``routekeeper`` script."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except CliError as exc:
        print(f"routekeeper: {exc}", file=sys.stderr)
        return exc.status
    except (OperationalError, ProgrammingError) as exc:
        # Most often a database that was never migrated, or one that cannot be reached.
        print(f"routekeeper: database error: {exc.orig}", file=sys.stderr)
        print("routekeeper: is the database reachable and migrated (routekeeper db upgrade)?",
              file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
