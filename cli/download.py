"""``inter4k download``: fetch Inter4K (resumable, verified) or unpack a zip already on disk.

The work is :func:`inter4k.api.download` (:func:`inter4k.data.download.download`); this module
parses the options, draws the progress bar (on stderr) from its progress callback and renders the
result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from inter4k import api
from inter4k.data import download as dl
from inter4k.data import layout

from ._options import JsonOpt, print_json, QuietOpt

STAGES = {
    "download": "downloading",
    "hash": "hashing the zip",
    "check": "checking CRCs",
    "extract": "extracting",
    "verify": "verifying sha256",
}


class _Bar:
    """A rich progress bar with one task per stage, fed by ``progress(stage, done, total)``."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started = False

    def __call__(self, stage: str, done: int, total: Optional[int]) -> None:
        if not self.started:  # started on the first report: a run with nothing to do draws nothing
            self.progress.start()
            self.started = True
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(STAGES.get(stage, stage), total=total)
        self.progress.update(task, completed=done, total=total)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.started:
            self.progress.stop()
        return False


def _size(n: Optional[int]) -> str:
    return dl.fmt_bytes(n)


def _render(result: dl.DownloadResult, console: Console) -> None:
    root = escape(str(result.root))
    if result.action == "skipped":
        what = "sizes and sha256" if result.hashes_verified else "sizes"
        console.print(f"[green]Inter4K is already in {root}[/]: {result.files} files ({_size(result.file_bytes)}, "
                      f"{result.clips} clips) match {escape(str(result.manifest))} ({what}); nothing to do.")
        return
    how = {
        "downloaded": f"Downloaded {_size(result.zip_size)} from {escape(result.source)}",
        "resumed": f"Resumed the download at {_size(result.resumed_from)} and fetched {_size(result.bytes_fetched)} "
                   f"more from {escape(result.source)}",
        "reused": f"Used the zip already at {escape(str(dl.zip_path_for(result.root)))}",
        "from_zip": f"Used {escape(result.source)}",
    }.get(result.action, result.action)
    extra = []
    if result.retries:
        extra.append(f"{result.retries} retr{'y' if result.retries == 1 else 'ies'}")
    if result.restarts:
        extra.append(f"restarted from zero {result.restarts}x (the server ignored Range)")
    console.print(how + (f" ({', '.join(extra)})" if extra else "") + ".")
    console.print(f"[green]Extracted {result.files} files[/] ({_size(result.file_bytes)}, {result.clips} clips) "
                  f"into {root}; CRCs checked.")
    console.print(f"zip sha256 {result.zip_sha256}")
    console.print(f"manifest: {escape(str(result.manifest))}")
    if result.action != "from_zip":
        console.print(f"zip kept at {escape(str(result.zip_path))}" if result.zip_path else
                      "zip removed (pass --keep-zip to keep it)")
    for note in result.notes:
        console.print(f"[dim]{escape(note)}[/]")


def download(
    url: Annotated[
        Optional[str],
        typer.Option("--url", help=f"Where to fetch the zip from (default: the official link, {layout.OFFICIAL_URL})."),
    ] = None,
    root: Annotated[
        Optional[Path],
        typer.Option("--root", help="Dataset root (default: $INTER4K_ROOT or ~/datasets/inter4k).",
                     file_okay=False),
    ] = None,
    from_zip: Annotated[
        Optional[Path],
        typer.Option("--from-zip", dir_okay=False,
                     help="Unpack this zip (already on disk) instead of downloading; it is never deleted."),
    ] = None,
    sha256: Annotated[
        Optional[str],
        typer.Option("--sha256", help="Expected sha256 of the zip (64 hex digits); checked before extracting."),
    ] = None,
    keep_zip: Annotated[
        bool,
        typer.Option("--keep-zip/--no-keep-zip", help="Keep ROOT/Inter4K.zip after extracting."),
    ] = False,
    retries: Annotated[
        int,
        typer.Option("--retries", min=0, help="Consecutive failed attempts to retry (exponential backoff)."),
    ] = dl.DEFAULT_RETRIES,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.001, help="Seconds to wait for a connection or for data."),
    ] = dl.DEFAULT_TIMEOUT,
    verify_hashes: Annotated[
        bool,
        typer.Option("--verify-hashes", help="On a re-run, recheck every file's sha256 against the manifest "
                                             "(not only its size)."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Extract again even when the manifest says the work is done."),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fetch Inter4K (resumable, verified) into ROOT, or unpack a zip already on disk.

    Follows the official link's redirect and resumes an interrupted download (ROOT/Inter4K.zip.part).
    Checks free space, the members' paths and every member's CRC before extracting anything.
    Writes ROOT/Inter4K/MANIFEST.json; a second run finds the work done and does nothing.
    """
    if url is not None and from_zip is not None:
        raise typer.BadParameter("give --url or --from-zip, not both", param_hint="'--from-zip'")
    err = Console(stderr=True, highlight=False)
    show_bar = not (quiet or json_)
    try:
        if show_bar:
            with _Bar(err) as bar:
                result = api.download(root, url, from_zip=from_zip, sha256=sha256, keep_zip=keep_zip, retries=retries,
                                     timeout=timeout, verify_hashes=verify_hashes, force=force, progress=bar)
        else:
            result = api.download(root, url, from_zip=from_zip, sha256=sha256, keep_zip=keep_zip, retries=retries,
                                 timeout=timeout, verify_hashes=verify_hashes, force=force)
    except dl.DownloadInterrupted as exc:
        err.print(f"[yellow]{escape(str(exc))}[/]")
        raise typer.Exit(code=130) from None
    if json_:
        print_json(result.to_dict())
    else:
        _render(result, Console(highlight=False))
