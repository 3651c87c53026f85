"""`python -m kmirror` runs the CLI."""

from kmirror.cli import main

raise SystemExit(main())
