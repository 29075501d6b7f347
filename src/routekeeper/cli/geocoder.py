"""``routekeeper geocoder``: build, serve, check and drop the local Nominatim."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routekeeper.geocoding.local import LocalNominatim

DEFAULT_HOME = "./var/nominatim"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _local(args: argparse.Namespace) -> LocalNominatim:
    from routekeeper.geocoding.local import LocalNominatim

    return LocalNominatim(Path(args.home))


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from routekeeper.geocoding.local import main_log, stop, wait_ready

    process = _local(args).start(host=args.host, port=args.port)
    url = f"http://{args.host}:{args.port}"
    try:
        wait_ready(url, process=process)
        main_log(f"geocoder: serving at {url}; point Routekeeper at it with\n"
                 f"  ROUTEKEEPER_GEOCODING__URL={url}\n(Ctrl-C stops it)")
        # SIGTERM ends the wait like Ctrl-C; the finally below stops the server (stopping it
        # inside the handler would wait on the child from within its own wait).
        signal.signal(signal.SIGTERM, _interrupt)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(process)


def cmd_build(args: argparse.Namespace) -> int:
    """Import the extract (once) and, unless --no-serve, serve it."""
    from routekeeper.cli.main import CliError
    from routekeeper.geocoding.local import BuildError, main_log

    try:
        record = _local(args).build(Path(args.pbf), pg_url=args.pg_url, database=args.database,
                                    log=main_log)
    except BuildError as exc:
        raise CliError(f"geocoder: {exc}", status=3) from exc
    main_log(f"geocoder: built in database {record['database']}")
    return 0 if args.no_serve else _serve(args)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a geocoder built earlier."""
    from routekeeper.cli.main import CliError
    from routekeeper.geocoding.local import BuildError

    try:
        return _serve(args)
    except BuildError as exc:
        raise CliError(f"geocoder: {exc}", status=3) from exc


def cmd_check(args: argparse.Namespace) -> int:
    """Say whether the geocoder can be built here, and if not, why (exit 3)."""
    problems = _local(args).missing(args.pg_url)
    if problems:
        print("geocoder cannot be built here: " + "; ".join(problems))
        return 3
    print("geocoder can be built here")
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    """Drop the geocoder's database."""
    _local(args).drop(args.pg_url, args.database)
    return 0


def add_parser(sub: Any) -> None:
    """Add ``geocoder`` and its subcommands to the CLI."""
    from routekeeper.geocoding.local import DEFAULT_PORT

    geo = sub.add_parser("geocoder", help="build and serve a local Nominatim geocoder")
    geo_sub = geo.add_subparsers(dest="geocoder_command", required=True)

    def common(p: argparse.ArgumentParser, *, server: bool, pg: bool) -> None:
        p.add_argument("--home", default=DEFAULT_HOME,
                       help="where its virtualenv, project and build record live")
        if pg:
            p.add_argument("--pg-url", default=DEFAULT_PG,
                           help="the PostgreSQL server (with PostGIS) that holds its database")
        if server:
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=DEFAULT_PORT)

    build = geo_sub.add_parser("build", help="import an OSM extract, then serve it")
    build.add_argument("--pbf", required=True, help="the .osm.pbf extract to import")
    build.add_argument("--database", default=None,
                       help="database name (default: one of this checkout's own)")
    build.add_argument("--no-serve", action="store_true", help="only build")
    common(build, server=True, pg=True)
    build.set_defaults(func=cmd_build)

    serve = geo_sub.add_parser("serve", help="serve the geocoder built earlier")
    common(serve, server=True, pg=False)
    serve.set_defaults(func=cmd_serve)

    check = geo_sub.add_parser("check", help="can the geocoder be built here?")
    common(check, server=False, pg=True)
    check.set_defaults(func=cmd_check)

    drop = geo_sub.add_parser("drop", help="drop the geocoder's database")
    drop.add_argument("--database", default=None)
    common(drop, server=False, pg=True)
    drop.set_defaults(func=cmd_drop)
