"""Allow `python -m medfed`."""

from medfed.cli.app import main

main()
