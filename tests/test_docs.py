"""The repository's references stay inside the repository and point at something that exists.

* No tracked file may cite the design document the project started from, which is not part of the
  repository: the maths and conventions are in docs/OPS.md, docs/EVALUATE.md and docs/DATA.md.
* Every Markdown file mentioned in code, tests or docs exists, and an anchor after it (as in
  ``docs/OPS.md#adaunpool`` or ``README.md#backends``) is a heading (or an explicit ``<a id>``) of
  that file, with GitHub's anchor rules.
* Every relative Markdown link in a ``.md`` file resolves from that file's folder, as GitHub renders it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Built from parts so that this file does not match itself.
FORBIDDEN = [re.compile(p, re.IGNORECASE) for p in (r"SPEC" r"\.md", r"SPEC" r"\s*§", r"\.\./" r"shared\b")]

# A Markdown file mentioned in prose or code, optionally with an anchor: "docs/OPS.md#adaunpool",
# "README.md#backends", "../docs/BENCHMARKS.md". Not preceded by a path or URL character, so the
# tail of "https://github.com/owner/repo/blob/main/README.md" is not taken for a local file.
MENTION = re.compile(r"(?<![\w./:-])((?:\.\./)*(?:docs/)?[A-Z][\w-]*\.md)(?:#([\w-]+))?")
# A Markdown link target: [text](target) / [text](target "title").
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)


def tracked_files() -> list[Path]:
    """The files git tracks or would track (not ignored), or every file below ROOT outside hidden
    folders and build output when this is not a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
        paths = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {"__pycache__", "build", "dist", "out", "runs"}
        paths = [p for p in ROOT.rglob("*")
                 if not any(part.startswith(".") or part in skip for part in p.relative_to(ROOT).parts)]
    return [p for p in paths if p.is_file()]


def read_text(path: Path) -> str | None:
    """The file as text, or None for a binary file (weights, images, videos)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


TEXT_FILES = {p: t for p in tracked_files() if (t := read_text(p)) is not None}


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: link syntax reduced to its text, lower case, every
    character but letters, digits, '_', '-' and spaces dropped, spaces turned into '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor a Markdown file defines: one per heading outside code fences (repeats get
    -1, -2, ... as on GitHub) and every explicit ``<a id=...>`` / ``<a name=...>``."""
    found: set[str] = set(HTML_ANCHOR.findall(markdown))
    seen: dict[str, int] = {}
    fence = None
    for line in markdown.splitlines():
        m = FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence:
            continue
        h = HEADING.match(line)
        if h:
            slug = github_slug(h.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def resolve(ref: str, source: Path) -> Path | None:
    """A mentioned Markdown file, from the mentioning file's folder or from the repository root."""
    for base in (source.parent, ROOT):
        path = (base / ref).resolve()
        if path.is_file() and path.is_relative_to(ROOT):
            return path
    return None


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize(
    "heading, slug",
    [
        ("Kernels (`csrc/`)", "kernels-csrc"),
        ("`inter4k bench-pool`: how much of an image survives pooling",
         "inter4k-bench-pool-how-much-of-an-image-survives-pooling"),
        ("VFI model mode (`--task vfi` without `--pred`/`--ref`)", "vfi-model-mode---task-vfi-without---pred--ref"),
        ("1. The model contract (for a trainer)", "1-the-model-contract-for-a-trainer"),
        ("adaUnPool", "adaunpool"),
    ],
)
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug


def test_anchors_skip_code_fences_and_number_repeats():
    text = "# A\n```\n# not a heading\n```\n## A\n<a id=\"x-y\"></a>\n"
    assert anchors(text) == {"a", "a-1", "x-y"}


def test_found_the_repository_files():
    names = {rel(p) for p in TEXT_FILES}
    assert {"README.md", "docs/OPS.md", "docs/EVALUATE.md", "tests/test_docs.py"} <= names


def test_no_reference_to_files_outside_the_repository():
    hits = [f"{rel(p)}:{n}: {line.strip()}"
            for p, text in TEXT_FILES.items()
            for n, line in enumerate(text.splitlines(), 1)
            if any(f.search(line) for f in FORBIDDEN)]
    assert not hits, "references to a document outside the repository:\n" + "\n".join(hits)


def test_every_markdown_mention_exists_with_its_anchor():
    cache: dict[Path, set[str]] = {}
    bad = []
    for p, text in TEXT_FILES.items():
        for n, line in enumerate(text.splitlines(), 1):
            for m in MENTION.finditer(line):
                ref, anchor = m.group(1), m.group(2)
                target = resolve(ref, p)
                if target is None:
                    bad.append(f"{rel(p)}:{n}: {ref} does not exist")
                elif anchor is not None:
                    known = cache.setdefault(target, anchors(target.read_text(encoding="utf-8")))
                    if anchor not in known:
                        bad.append(f"{rel(p)}:{n}: {rel(target)} has no heading with anchor #{anchor}")
    assert not bad, "\n".join(bad)


def test_every_relative_markdown_link_resolves():
    bad = []
    for p, text in TEXT_FILES.items():
        if p.suffix != ".md":
            continue
        own = anchors(text)
        for n, line in enumerate(text.splitlines(), 1):
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r"[a-z][a-z0-9+.-]*:", target):       # http:, https:, mailto:, data:
                    continue
                path, _, anchor = target.partition("#")
                dest = (p.parent / path).resolve() if path else p
                if not dest.exists() or not dest.is_relative_to(ROOT):
                    bad.append(f"{rel(p)}:{n}: link {target} does not resolve from {rel(p.parent) or '.'}")
                elif anchor and dest.suffix == ".md":
                    known = own if dest == p else anchors(dest.read_text(encoding="utf-8"))
                    if anchor not in known:
                        bad.append(f"{rel(p)}:{n}: link {target}: no heading with anchor #{anchor}")
    assert not bad, "\n".join(bad)
