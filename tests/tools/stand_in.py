"""Stand-in engines for the comparison tools' tests: an executable script that logs its name and
arguments to a shared log and prints set figures, so a test can check what a tool ran, in which
order, and what it made of the output."""
import os

# The n-th run of the stand-in named `name` has decode figure tg = figures[n % len]; `output`
# then prints what the engine would (Python, with json and tg in scope).
PRELUDE = """#!/usr/bin/env python3
import json, sys
log, name, figures = {log!r}, {name!r}, {figures!r}
with open(log, "a") as f:
    f.write(name + " " + " ".join(sys.argv[1:]) + "\\n")
runs = sum(1 for line in open(log) if line.startswith(name + " "))
tg = figures[(runs - 1) % len(figures)]
"""


def write_stand_in(path, log, name, figures, output):
    """Writes the stand-in executable to path and returns path."""
    with open(path, "w") as f:
        f.write(PRELUDE.format(log=log, name=name, figures=figures) + output)
    os.chmod(path, 0o755)
    return path
