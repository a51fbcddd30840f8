"""`make bench`: the performance figures of jiekun, each next to a baseline measured in the same
run (see tests/bench/run.py). Nothing here is collected by pytest (no test_*.py files)."""
