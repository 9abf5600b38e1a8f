from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fixloop.errors import BadInputError, ToolFailed
from fixloop.sandbox import AppliedCall, Snapshot, Workspace
from tests.support import head, make_repo

PNG = bytes(range(256)) + b"\0\x89PNG\r\n"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _commit(repo: Path, files: dict[str, str], message: str = "more") -> str:
    for name, content in files.items():
        (repo / name).write_text(content)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
    return head(repo)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root except .git, with its bytes (symbolic links as their target)."""
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            out[rel] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return out


def _edit_everything(ws: Workspace) -> None:
    """An edit, a new file in a new directory, a deletion, binary files, a mode change."""
    (ws.root / "app/handler.py").write_text("def handle(event):\n    return None\n")
    (ws.root / "app/new/mod.py").parent.mkdir()
    (ws.root / "app/new/mod.py").write_text("NEW = 1\n")
    (ws.root / "app/util.py").unlink()
    (ws.root / "logo.png").write_bytes(PNG)
    (ws.root / "data.bin").write_bytes(b"\0\1\2" * 100 + b"changed")
    (ws.root / "run.sh").chmod(0o755)


@pytest.fixture
def source(repo: Path) -> Path:
    """The conftest repository with a binary file and a script committed too."""
    (repo / "data.bin").write_bytes(b"\0\1\2" * 100)
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    _commit(repo, {})
    return repo


@pytest.fixture
def ws(source: Path, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", source, head(source))


# -- create ---------------------------------------------------------------------------------


def test_create_checks_out_the_commit_detached_with_a_local_identity(
    repo: Path, tmp_path: Path
) -> None:
    # Given a repository whose branch moved on after the investigated commit
    investigated = head(repo)
    _commit(repo, {"app/util.py": "later\n"})
    # When a workspace is created at the investigated commit (abbreviated)
    ws = Workspace.create(tmp_path / "ws", repo, investigated[:10])
    # Then the working tree is that commit's, HEAD is detached there, and commits can be made
    assert ws.base_commit == investigated
    assert (ws.root / "app/util.py").read_text() == "def ident(x):\n    return x\n"
    assert _git(ws.root, "rev-parse", "HEAD").strip() == investigated
    detached = subprocess.run(
        ["git", "-C", str(ws.root), "symbolic-ref", "-q", "HEAD"], check=False
    )
    assert detached.returncode == 1
    assert _git(ws.root, "status", "--porcelain") == ""
    assert _git(ws.root, "config", "user.email").strip()
    # and the source repository is untouched
    assert (repo / "app/util.py").read_text() == "later\n"


def test_create_from_a_file_url_and_a_branch_name(repo: Path, tmp_path: Path) -> None:
    # Given a source given as a URL and a commit given as a branch name
    # When the workspace is created
    ws = Workspace.create(tmp_path / "ws", f"file://{repo}", "main")
    # Then the base commit is recorded as the full id the branch pointed at
    assert ws.base_commit == head(repo)


@pytest.mark.parametrize(
    ("source", "commit", "message"),
    [
        ("nowhere", "HEAD", "cannot clone nowhere"),
        (None, "0" * 40, "is not in"),
        (None, "no-such-branch", "is not in"),
        (None, "--upload-pack=touch", "is not a commit"),
        (None, "", "is not a commit"),
    ],
)
def test_create_rejects_unusable_sources_and_commits_and_leaves_nothing(
    repo: Path, tmp_path: Path, source: str | None, commit: str, message: str
) -> None:
    # Given a source or commit that cannot be used
    root = tmp_path / "ws"
    # When a workspace is created, Then it is a clear bad-input error and no clone is left
    with pytest.raises(BadInputError, match=message):
        Workspace.create(root, source or repo, commit)
    assert not root.exists()


def test_create_refuses_a_root_that_is_not_empty(repo: Path, tmp_path: Path) -> None:
    # Given a directory with something in it
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "keep.txt").write_text("mine")
    # When a workspace is created there, Then it refuses and leaves the file alone
    with pytest.raises(BadInputError, match="not empty"):
        Workspace.create(tmp_path / "ws", repo, head(repo))
    assert (tmp_path / "ws" / "keep.txt").read_text() == "mine"


# -- snapshot, diff, restore ----------------------------------------------------------------


def test_a_clean_workspace_has_an_empty_snapshot_and_diff(ws: Workspace) -> None:
    # Given a fresh workspace, When it is snapshotted, Then there is nothing in it
    assert ws.snapshot() == Snapshot(base_commit=ws.base_commit, patch="", applied={})
    assert ws.diff() == ""


def test_snapshot_restore_round_trip_into_a_fresh_directory(
    ws: Workspace, source: Path, tmp_path: Path
) -> None:
    # Given edits of every kind and two journaled calls
    _edit_everything(ws)
    ws.record("inv-1/t000001/0", AppliedCall(content="edited app/handler.py", is_error=False))
    ws.record("inv-1/t000002/0", AppliedCall(content="timed out after 1s", is_error=True))
    # When it is snapshotted, stored as JSON, and restored somewhere else
    stored = ws.snapshot().model_dump_json()
    restored = Workspace.restore(
        tmp_path / "elsewhere", source, Snapshot.model_validate_json(stored)
    )
    # Then the working trees are the same, byte for byte and mode for mode
    assert _tree(restored.root) == _tree(ws.root)
    assert os.access(restored.root / "run.sh", os.X_OK)
    assert not (restored.root / "app/util.py").exists()
    # and the diffs and snapshots are the same, journal included
    assert restored.diff() == ws.diff()
    assert restored.snapshot() == ws.snapshot()
    assert restored.applied_result("inv-1/t000002/0") == AppliedCall(
        content="timed out after 1s", is_error=True
    )
    assert restored.base_commit == ws.base_commit


def test_diff_is_readable_includes_new_files_and_only_names_binary_ones(ws: Workspace) -> None:
    # Given edits of every kind
    _edit_everything(ws)
    # When the diff is shown
    diff = ws.diff()
    # Then text changes are unified hunks, new and deleted files are there, binaries are named
    assert "-    return event['user']['id']\n+    return None" in diff
    assert "+++ b/app/new/mod.py" in diff
    assert "+NEW = 1" in diff
    assert "deleted file mode" in diff and "a/app/util.py" in diff
    assert "Binary files /dev/null and b/logo.png differ" in diff
    assert "Binary files a/data.bin and b/data.bin differ" in diff
    assert "new mode 100755" in diff
    assert "GIT binary patch" not in diff


def test_snapshot_covers_commits_and_leaves_the_clone_index_alone(ws: Workspace) -> None:
    # Given a command that committed one change and staged another
    (ws.root / "README.md").write_text("# committed\n")
    _git(ws.root, "commit", "-qam", "by a command")
    (ws.root / "staged.txt").write_text("staged\n")
    _git(ws.root, "add", "staged.txt")
    (ws.root / "untracked.txt").write_text("untracked\n")
    # When the workspace is snapshotted
    patch = ws.snapshot().patch
    # Then everything differs from the base commit, and the clone's staging is as it was
    assert "a/README.md" in patch and "b/staged.txt" in patch and "b/untracked.txt" in patch
    assert _git(ws.root, "diff", "--cached", "--name-only") == "staged.txt\n"
    assert _git(ws.root, "status", "--porcelain", "untracked.txt") == "?? untracked.txt\n"


def test_ignored_files_stay_out_of_the_snapshot(ws: Workspace) -> None:
    # Given a .gitignore and an ignored build output
    (ws.root / ".gitignore").write_text("build/\n")
    (ws.root / "build").mkdir()
    (ws.root / "build/out.o").write_bytes(b"\0obj")
    # When the workspace is snapshotted, Then the ignore file is in it and the output is not
    patch = ws.snapshot().patch
    assert "b/.gitignore" in patch
    assert "build/out.o" not in patch


def test_text_in_another_encoding_round_trips(ws: Workspace, source: Path, tmp_path: Path) -> None:
    # Given a Latin-1 text file (not valid UTF-8)
    (ws.root / "legacy.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    # When it is snapshotted as JSON and restored
    stored = ws.snapshot().model_dump_json()
    restored = Workspace.restore(tmp_path / "r", source, Snapshot.model_validate_json(stored))
    # Then the bytes are the same
    assert (restored.root / "legacy.txt").read_bytes() == "caf\xe9 cr\xe8me\n".encode("latin-1")


def test_restore_of_a_patch_that_does_not_apply_fails_clearly(
    ws: Workspace, source: Path, tmp_path: Path
) -> None:
    # Given a snapshot whose patch expects other content than its base commit has
    (ws.root / "README.md").write_text("# edited\n")
    patch = ws.snapshot().patch.replace("-# svc", "-# something else")
    broken = Snapshot(base_commit=ws.base_commit, patch=patch)
    root = tmp_path / "r"
    # When it is restored, Then the error says so and names the file; nothing is left
    with pytest.raises(BadInputError, match=r"does not apply to \w{12}: .*README\.md"):
        Workspace.restore(root, source, broken)
    assert not root.exists()


# -- journal --------------------------------------------------------------------------------


def test_journal_records_and_answers(ws: Workspace) -> None:
    # Given a workspace with one recorded call
    ws.record("k1", AppliedCall(content="done", is_error=False))
    # Then the recorded one is known and another is not
    assert ws.applied_result("k1") == AppliedCall(content="done", is_error=False)
    assert ws.applied_result("k2") is None


# -- paths ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Symbolic links: one out of the workspace, one into .git, one that stays inside.

    Shared by the module's read-only path tests (one clone instead of one each)."""
    tmp_path = tmp_path_factory.mktemp("linked")
    src = make_repo(tmp_path / "src", {"app/handler.py": "", "app/util.py": "", "README.md": ""})
    ws = Workspace.create(tmp_path / "ws", src, head(src))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret.txt").write_text("secret")
    (ws.root / "out").symlink_to(tmp_path / "outside")
    (ws.root / "gitlink").symlink_to(ws.root / ".git")
    (ws.root / "inside").symlink_to("app")
    return ws


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside/secret.txt", "outside the workspace"),
        ("app/../../outside", "outside the workspace"),
        ("/etc/passwd", "outside the workspace"),
        ("out/secret.txt", "leads outside the workspace through a symbolic link"),
        ("out", "leads outside the workspace through a symbolic link"),
        (".git/config", "inside .git"),
        ("app/../.git", "inside .git"),
        (".GIT/HEAD", "inside .git"),
        ("gitlink/config", "leads into .git"),
    ],
)
def test_resolve_rejects_escapes_naming_the_path(
    linked: Workspace, path: str, message: str
) -> None:
    # Given a path that leaves the working tree or enters .git
    # When it is resolved, Then the failure names the path for the model
    with pytest.raises(ToolFailed, match=message) as caught:
        linked.resolve(path)
    assert repr(path) in str(caught.value)


def test_resolve_accepts_paths_inside(linked: Workspace) -> None:
    # Given paths that stay inside, Then they resolve under the root
    root = linked.root
    assert linked.resolve("app/handler.py") == root / "app/handler.py"
    assert linked.resolve("./app/../README.md") == root / "README.md"
    assert linked.resolve(str(root / "app")) == root / "app"
    assert linked.resolve("") == root
    assert linked.resolve("inside/util.py") == root / "inside/util.py"
    assert linked.resolve("new/dir/file.py") == root / "new/dir/file.py"
    assert linked.relative(root / "app/util.py") == "app/util.py"


def test_files_are_tracked_and_new_but_not_ignored_nor_deleted(ws: Workspace) -> None:
    # Given a new file, an ignored file and a deleted file
    (ws.root / ".gitignore").write_text("*.log\n")
    (ws.root / "app/new.py").write_text("")
    (ws.root / "debug.log").write_text("noise")
    (ws.root / "README.md").unlink()
    # When files are listed, Then they are sorted relative paths, filtered as asked
    assert ws.files() == [
        ".gitignore",
        "app/handler.py",
        "app/new.py",
        "app/util.py",
        "data.bin",
        "run.sh",
    ]
    assert ws.files("app", "*.py") == ["app/handler.py", "app/new.py", "app/util.py"]
    assert ws.files(glob="app/h*") == ["app/handler.py"]
    assert ws.files(glob="**/*.sh") == ["run.sh"]
    assert ws.files("nowhere") == []


def test_snapshot_lists_each_changed_file_with_its_content(tmp_path: Path) -> None:
    import base64

    # Given a workspace with an edit, a new executable file and a deletion
    from tests.support import head, make_repo

    repo = make_repo(tmp_path / "src", {"a.py": "a = 1\n", "gone.txt": "bye\n"})
    ws = Workspace.create(tmp_path / "ws", str(repo), head(repo))
    (ws.root / "a.py").write_text("a = 2\n")
    (ws.root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ws.root / "run.sh").chmod(0o755)
    (ws.root / "gone.txt").unlink()
    # When it is snapshotted
    files = {f.path: f for f in ws.snapshot().files}
    # Then each change carries what a code host needs to commit it
    assert set(files) == {"a.py", "run.sh", "gone.txt"}
    assert base64.b64decode(files["a.py"].content_b64 or "") == b"a = 2\n"
    assert files["run.sh"].mode == "100755"
    assert files["gone.txt"].content_b64 is None
