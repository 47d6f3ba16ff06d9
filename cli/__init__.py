"""The ``inter4k`` command line: a thin Typer layer over :mod:`inter4k.api`.

One module per command group (``cli/doctor.py``, ...), shared option aliases in ``cli/_options.py``,
and one entry point, :func:`cli.main.main`, which maps known errors to a one-line message and an
exit code.
"""
