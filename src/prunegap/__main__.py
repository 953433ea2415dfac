"""``python -m prunegap``: the ``prunegap`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
