"""`cdp-dbt`: dbt's own command line, run with its long-lived objects kept out of garbage collections.

The warehouse build starts dbt in a process of its own each night (dagster-dbt runs this script as its dbt
executable). dbt's imports, the manifest and the compiled nodes are about 190,000 tracked objects that live until
the process exits, and each full collection walks them again: about 0.7-0.8 s of full collections in a build with
nothing new at M, then 0.6-1.1 s of the interpreter's collections at exit (docs/performance.md, section AV).
Freezing the heap once dbt is imported and again when the command returns (`gc.freeze`) leaves the collector the
objects of the command itself. The arguments, output and exit code are dbt's; analysts' `dbt` is unchanged.
"""

from __future__ import annotations

import gc
import sys


def main() -> None:
    from dbt.cli.main import cli

    gc.freeze()
    try:
        # As dbt's own script does: click parses sys.argv and exits with dbt's code.
        sys.exit(cli())
    finally:
        gc.freeze()
