"""cli/main.py's docstring (what ``help(cli.main)`` and the source show) names every command."""

from __future__ import annotations

import re

import cli.main


def test_the_entry_point_docstring_lists_every_command():
    names = [c.name for c in cli.main.app.registered_commands]
    assert len(names) >= 12
    missing = [n for n in names if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", cli.main.__doc__)]
    assert missing == []
