"""``python -m jiekun.workflow.cli``: the ``jiekun`` command, named as the console script is."""

from jiekun.workflow.cli import main

if __name__ == "__main__":
    main(prog_name="jiekun")
