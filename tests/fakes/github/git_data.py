"""Branches and the Git Data API (refs, blobs, trees, commits) over the bare repository."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from tests.fakes.github.protocol import JsonDict, Route, error, iso, node_id, required
from tests.fakes.github.repository import SHA, ZERO_SHA, BareRepository
from tests.fakes.github.site import Site

__all__ = ["PROTECTED_CREATE_MESSAGE", "PROTECTED_UPDATE_MESSAGE", "GitData"]

PROTECTED_CREATE_MESSAGE = (
    "Repository rule violations found\n\nCannot create ref due to creations being restricted.\n\n"
)
PROTECTED_UPDATE_MESSAGE = (
    "Repository rule violations found\n\nCannot update this protected ref.\n\n"
)


class GitData:
    """The routes of ``branches/{b}`` and ``git/...``."""

    def __init__(self, site: Site, repo: BareRepository) -> None:
        self.site = site
        self.repo = repo

    def routes(self) -> list[Route]:
        return [
            ("GET", r"branches/(.+)", self._get_branch),
            ("GET", r"git/refs?/(heads/.+|tags/.+)", self._get_ref),
            ("POST", r"git/refs", self._create_ref),
            ("PATCH", r"git/refs/(.+)", self._update_ref),
            ("DELETE", r"git/refs/(.+)", self._delete_ref),
            ("POST", r"git/blobs", self._create_blob),
            ("GET", r"git/blobs/([^/]+)", self._get_blob),
            ("POST", r"git/trees", self._create_tree),
            ("GET", r"git/trees/([^/]+)", self._get_tree),
            ("POST", r"git/commits", self._create_commit),
            ("GET", r"git/commits/([^/]+)", self._get_commit),
        ]

    # -- branches ----------------------------------------------------------------------------

    def _get_branch(self, _body: Any, _query: Any, branch: str) -> tuple[int, Any]:
        head = self.repo.branch_head(branch)
        if head is None:
            raise error(404, "Branch not found")
        commit = self.commit_json(head)
        return 200, {
            "name": branch,
            "commit": {
                "sha": head,
                "node_id": commit["node_id"],
                "url": self.site.api(f"commits/{head}"),
                "html_url": self.site.html(f"commit/{head}"),
                "commit": {
                    key: commit[key] for key in ("author", "committer", "message", "tree", "url")
                },
                "parents": commit["parents"],
            },
            "_links": {
                "self": self.site.api(f"branches/{branch}"),
                "html": self.site.html(f"tree/{branch}"),
            },
            "protected": self.site.is_protected(branch),
            "protection_url": self.site.api(f"branches/{branch}/protection"),
        }

    # -- refs --------------------------------------------------------------------------------

    def _ref_json(self, ref: str, sha: str) -> JsonDict:
        return {
            "ref": ref,
            "node_id": node_id("Ref", ref),
            "url": self.site.api(f"git/{ref}"),
            "object": {"sha": sha, "type": "commit", "url": self.site.api(f"git/commits/{sha}")},
        }

    def _get_ref(self, _body: Any, _query: Any, ref: str) -> tuple[int, Any]:
        proc = self.repo.run(["rev-parse", "--verify", "--quiet", f"refs/{ref}"])
        if proc.returncode != 0:
            raise error(404, "Not Found")
        return 200, self._ref_json(f"refs/{ref}", proc.stdout.decode().strip())

    def _create_ref(self, body: Any, _query: Any) -> tuple[int, Any]:
        ref, sha = required(body, "ref", str), required(body, "sha", str)
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise error(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        if self.repo.run(["check-ref-format", ref]).returncode != 0:
            raise error(422, "Reference name is invalid")
        if not self.repo.is_commit(sha):
            raise error(422, "Object does not exist")
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        if branch is not None and self.site.is_protected(branch):
            raise error(422, PROTECTED_CREATE_MESSAGE)
        if self.repo.run(["update-ref", ref, sha, ZERO_SHA]).returncode != 0:
            raise error(422, "Reference already exists")
        return 201, self._ref_json(ref, sha)

    def _update_ref(self, body: Any, _query: Any, ref: str) -> tuple[int, Any]:
        sha = required(body, "sha", str)
        force = bool(body.get("force", False))
        full = f"refs/{ref}"
        proc = self.repo.run(["rev-parse", "--verify", "--quiet", full])
        if proc.returncode != 0:
            raise error(422, "Reference does not exist")
        old = proc.stdout.decode().strip()
        if not self.repo.is_commit(sha):
            raise error(422, "Object does not exist")
        if ref.startswith("heads/") and self.site.is_protected(ref.removeprefix("heads/")):
            raise error(422, PROTECTED_UPDATE_MESSAGE)
        if not force and old != sha:
            fast_forward = self.repo.run(["merge-base", "--is-ancestor", old, sha]).returncode == 0
            if not fast_forward:
                raise error(422, "Update is not a fast forward")
        if self.repo.run(["update-ref", full, sha, old]).returncode != 0:
            raise error(422, "Reference cannot be updated")
        return 200, self._ref_json(full, sha)

    def _delete_ref(self, _body: Any, _query: Any, ref: str) -> tuple[int, Any]:
        if self.repo.run(["update-ref", "-d", f"refs/{ref}"]).returncode != 0:
            raise error(422, "Reference does not exist")
        return 204, None

    # -- blobs, trees, commits ---------------------------------------------------------------

    def _create_blob(self, body: Any, _query: Any) -> tuple[int, Any]:
        content = required(body, "content", str)
        encoding = body.get("encoding", "utf-8")
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except binascii.Error as exc:
                raise error(422, "Invalid base64 content") from exc
        elif encoding in ("utf-8", "utf8"):
            data = content.encode()
        else:
            raise error(422, f"encoding {encoding!r} is not supported")
        sha = self.repo.write_blob(data)
        return 201, {"sha": sha, "url": self.site.api(f"git/blobs/{sha}")}

    def _get_blob(self, _body: Any, _query: Any, sha: str) -> tuple[int, Any]:
        if not SHA.match(sha) or self.repo.object_type(sha) != "blob":
            raise error(404, "Not Found")
        data = self.repo.git("cat-file", "blob", sha)
        return 200, {
            "sha": sha,
            "node_id": node_id("Blob", sha),
            "size": len(data),
            "url": self.site.api(f"git/blobs/{sha}"),
            "content": base64.encodebytes(data).decode(),
            "encoding": "base64",
        }

    def _create_tree(self, body: Any, _query: Any) -> tuple[int, Any]:
        entries = required(body, "tree", list)
        base_tree = body.get("base_tree")
        if base_tree is not None and (
            not isinstance(base_tree, str) or self.repo.object_type(base_tree) != "tree"
        ):
            raise error(422, "Invalid tree info", errors=["base_tree is not a valid tree oid"])
        resolved: list[JsonDict] = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise error(422, "Invalid tree info")
            mode, kind = entry.get("mode"), entry.get("type", "blob")
            if kind != "blob" or mode not in ("100644", "100755", "120000"):
                raise error(422, f"tree entry {entry.get('path')!r}: only blobs are supported")
            if "content" in entry and entry["content"] is not None:
                sha = self.repo.write_blob(str(entry["content"]).encode())
                resolved.append({**entry, "sha": sha})
            elif entry.get("sha") is None:
                resolved.append({**entry, "sha": None})
            elif self.repo.object_type(str(entry["sha"])) != "blob":
                raise error(422, "GitRPC::BadObjectState", errors=["tree.sha is not a blob"])
            else:
                resolved.append(entry)
        sha = self.repo.build_tree(base_tree, resolved)
        return 201, self._tree_json(sha)

    def _get_tree(self, _body: Any, _query: Any, sha: str) -> tuple[int, Any]:
        if not SHA.match(sha) or self.repo.object_type(sha) != "tree":
            raise error(404, "Not Found")
        return 200, self._tree_json(sha)

    def _tree_json(self, sha: str) -> JsonDict:
        items: list[JsonDict] = []
        listing = self.repo.git("ls-tree", "-z", sha).decode("utf-8", "surrogateescape")
        for line in filter(None, listing.split("\0")):
            meta, path = line.split("\t", 1)
            mode, kind, obj = meta.split(" ")
            kind_path = "blobs" if kind == "blob" else "trees"
            items.append(
                {
                    "path": path,
                    "mode": mode,
                    "type": kind,
                    "sha": obj,
                    "url": self.site.api(f"git/{kind_path}/{obj}"),
                }
            )
        return {
            "sha": sha,
            "url": self.site.api(f"git/trees/{sha}"),
            "tree": items,
            "truncated": False,
        }

    def _create_commit(self, body: Any, _query: Any) -> tuple[int, Any]:
        message = required(body, "message", str)
        tree = required(body, "tree", str)
        parents = body.get("parents", [])
        if self.repo.object_type(tree) != "tree":
            raise error(422, "Tree SHA does not exist")
        if not isinstance(parents, list) or not all(
            isinstance(p, str) and self.repo.is_commit(p) for p in parents
        ):
            raise error(422, "Parent SHA does not exist or is not a commit object")
        now = iso(datetime.now(UTC))
        owner = self.site.owner
        fallback = {"name": owner, "email": f"{owner}@users.noreply.github.com"}
        author = {"date": now, **fallback, **(body.get("author") or {})}
        committer = {"date": author["date"], **author, **(body.get("committer") or {})}
        sha = self.repo.commit_tree(tree, parents, message, author, committer)
        return 201, self.commit_json(sha)

    def _get_commit(self, _body: Any, _query: Any, sha: str) -> tuple[int, Any]:
        if not SHA.match(sha) or not self.repo.is_commit(sha):
            raise error(404, "Not Found")
        return 200, self.commit_json(sha)

    def commit_json(self, sha: str) -> JsonDict:
        parsed = self.repo.parse_commit(sha)
        return {
            "sha": sha,
            "node_id": node_id("Commit", sha),
            "url": self.site.api(f"git/commits/{sha}"),
            "html_url": self.site.html(f"commit/{sha}"),
            "author": parsed["author"],
            "committer": parsed["committer"],
            "message": parsed["message"],
            "tree": {"sha": parsed["tree"], "url": self.site.api(f"git/trees/{parsed['tree']}")},
            "parents": [
                {
                    "sha": p,
                    "url": self.site.api(f"git/commits/{p}"),
                    "html_url": self.site.html(f"commit/{p}"),
                }
                for p in parsed["parents"]
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }
