"""`python -m chainrule ...`: the `chainrule` command (see chainrule/cli.py)."""

from chainrule.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
