"""The fuzz run's one-line report in pytest's terminal summary."""

from __future__ import annotations

RESULTS: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS:
        return
    terminalreporter.write_line(
        "fuzz: {requests} requests in {seconds:.0f} s ({targets} URLs, {database}), "
        "{errors} server errors, {stray} stray records".format(**RESULTS)
    )
