"""``storage/migrations/script.py.mako``: ``alembic revision`` writes a revision that imports, on top of the head.

The revisions are written to a temporary directory added to the version locations, so that the package's own
``versions/`` is read (for the head) but never written to.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config

from pocketbank.storage.migrate import _config, head_revision, new_revision

PACKAGE_VERSIONS = Path(__file__).parents[2] / "src" / "pocketbank" / "storage" / "migrations" / "versions"


def _tmp_config(tmp_path: Path) -> Config:
    config = _config(None)
    # Not ":" or the OS separator: the package location is itself written with a colon.
    config.set_main_option("path_separator", "newline")
    config.set_main_option("version_locations", f"pocketbank.storage.migrations:versions\n{tmp_path}")
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")  # the project's file names: v0002_totp_...
    return config


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # compiles and runs it, without registering it in sys.modules
    return module


def test_revision_from_the_template_follows_the_head(tmp_path: Path) -> None:
    head = head_revision()
    rev_id = f"{int(head) + 1:04d}"
    script = command.revision(_tmp_config(tmp_path), "Add a widget column", rev_id=rev_id, version_path=str(tmp_path))
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    assert path.parent == tmp_path and path.name == f"v{rev_id}_add_a_widget_column.py"
    assert not list(PACKAGE_VERSIONS.glob(f"v{rev_id}_*"))
    source = path.read_text()
    assert "from __future__ import annotations\n" in source and "down_revision: str | None = " in source
    module = _load(path)
    assert module.__doc__ == "Add a widget column"
    assert module.revision == rev_id
    assert module.down_revision == head
    assert module.branch_labels is None and module.depends_on is None
    assert callable(module.upgrade) and callable(module.downgrade)
    assert module.upgrade() is None and module.downgrade() is None  # empty bodies: nothing to run against


def test_new_revision_numbers_the_next_revision_and_writes_where_asked(tmp_path: Path) -> None:
    head = head_revision()
    path = Path(new_revision("Payee nicknames", str(tmp_path)))
    assert path.parent == tmp_path and path.name == f"v{int(head) + 1:04d}_payee_nicknames.py"
    module = _load(path)
    assert module.revision == f"{int(head) + 1:04d}" and module.down_revision == head
    assert not list(PACKAGE_VERSIONS.glob(f"v{module.revision}_*"))
    head_revision.cache_clear()  # new_revision cleared it with the temporary revision visible; forget that


def test_merge_revision_gets_a_tuple_down_revision(tmp_path: Path) -> None:
    config = _tmp_config(tmp_path)
    head = head_revision()
    command.revision(config, "main line", rev_id="9001", version_path=str(tmp_path))
    command.revision(config, "side line", rev_id="9002", version_path=str(tmp_path), head=head, splice=True)
    script = command.merge(config, "heads", message="merge the lines", rev_id="9003")
    assert script is not None
    module = _load(Path(script.path))
    assert sorted(module.down_revision) == ["9001", "9002"]
    assert "down_revision: tuple[str, ...] = (" in Path(script.path).read_text()
