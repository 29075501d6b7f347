"""``routekeeper``: serve, worker, db upgrade/check, accounts create/list/rotate-secret, demo."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from routekeeper.accounts import service as accounts
from routekeeper.db import migrate
from routekeeper.db.engine import Database
from routekeeper.settings import Settings


def _settings() -> Settings:
    return Settings()


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API (and, unless --no-worker, the background worker) with uvicorn."""
    import uvicorn

    from routekeeper.app import create_app

    settings = _settings()
    migrate.upgrade(settings.database.url)
    app = create_app(settings, run_worker=not args.no_worker)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run only the job worker until SIGINT/SIGTERM."""
    from routekeeper.worker import build_runner

    settings = _settings()
    db = Database(settings.database)
    runner = build_runner(db, settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start(args.concurrency)
    print(f"worker {runner.worker_id} running", flush=True)
    stop.wait()
    runner.stop()
    db.dispose()
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    """Apply every migration."""
    migrate.upgrade(_settings().database.url)
    print("database is up to date")
    return 0


def cmd_db_check(_args: argparse.Namespace) -> int:
    """Fail when the models and the migrations disagree."""
    migrate.check(_settings().database.url)
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
    db = Database(_settings().database)
    with db.write() as session:
        creds = accounts.create_account(session, name=args.name, contact_email=args.email)
    db.dispose()
    _print({"account_id": creds.account_id, "secret_key": creds.secret_key,
            "name": creds.name}, args.json)
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    """List accounts (never their secrets)."""
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
    db = Database(_settings().database)
    with db.write() as session:
        creds = accounts.rotate_secret(session, args.account_id)
    db.dispose()
    if creds is None:
        print(f"no account {args.account_id}", file=sys.stderr)
        return 1
    _print({"account_id": creds.account_id, "secret_key": creds.secret_key}, args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Create the demo account once and print its credentials (kept in a 0600 file)."""
    path = Path(args.credentials_file)
    settings = _settings()
    migrate.upgrade(settings.database.url)
    db = Database(settings.database)
    data: dict[str, Any] | None = None
    if path.exists():
        data = json.loads(path.read_text())
        with db.read() as session:
            if session.get(accounts.Account, data.get("account_id")) is None:
                data = None
    if data is None:
        with db.write() as session:
            creds = accounts.create_account(session, name="Demo", contact_email=None)
        data = {"account_id": creds.account_id, "secret_key": creds.secret_key}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
    db.dispose()
    print("Demo account (HTTP Basic AccountID:SecretKey):")
    print(f"  AccountID: {data['account_id']}")
    print(f"  SecretKey: {data['secret_key']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="routekeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API and the worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="API only")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run only the background worker")
    worker.add_argument("--concurrency", type=int, default=None)
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    db_sub.add_parser("check", help="compare models and migrations").set_defaults(
        func=cmd_db_check
    )

    acc = sub.add_parser("accounts", help="account commands")
    acc_sub = acc.add_subparsers(dest="accounts_command", required=True)
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

    demo = sub.add_parser("demo", help="create the demo account once and print it")
    demo.add_argument("--credentials-file", default="./var/demo-credentials.json")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``routekeeper`` script."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
