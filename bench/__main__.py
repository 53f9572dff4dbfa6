"""`make bench`: national-scale figures. Sections live in bench/<name>.py with a `run(args)`."""

import argparse
import importlib
import os
import sys

SECTIONS = ["admin", "exports", "sheets", "chain", "changesets", "cases", "quality", "api", "browser"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--owners", type=int, default=25000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=SECTIONS, action="append")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sor_admin.settings")
    from bench.common import ensure_bench_register, prepare_database

    prepare_database()
    import django

    django.setup()
    ensure_bench_register(args.owners, args.seed)
    for name in args.only or SECTIONS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"[bench] section {name}: not written yet")
            continue
        module.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
