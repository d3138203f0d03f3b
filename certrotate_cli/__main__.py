import sys

from certrotate_cli.main import run

sys.exit(run())
