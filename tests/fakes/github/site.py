"""The served repository as GitHub shows it: its URLs, its owner and itself as JSON, and
which branches are protected."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from tests.fakes.github.protocol import JsonDict, node_id

__all__ = ["Site"]


@dataclass
class Site:
    """One repository ``owner/name`` served at ``base_url``."""

    base_url: str
    owner: str
    name: str
    default_branch: str
    protected: list[str] = field(default_factory=list)
    """fnmatch patterns of the branches that may not be created or updated."""

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def api(self, rest: str = "") -> str:
        return f"{self.base_url}/repos/{self.owner}/{self.name}" + (f"/{rest}" if rest else "")

    def html(self, rest: str = "") -> str:
        return f"{self.base_url}/{self.owner}/{self.name}" + (f"/{rest}" if rest else "")

    def is_protected(self, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.protected)

    def user_json(self) -> JsonDict:
        return {
            "login": self.owner,
            "id": 1,
            "node_id": node_id("Organization", self.owner),
            "type": "Organization",
            "site_admin": False,
            "url": f"{self.base_url}/users/{self.owner}",
            "html_url": f"{self.base_url}/{self.owner}",
        }

    def repo_json(self) -> JsonDict:
        return {
            "id": 1296269,
            "node_id": node_id("Repository", self.full_name),
            "name": self.name,
            "full_name": self.full_name,
            "owner": self.user_json(),
            "private": True,
            "visibility": "private",
            "html_url": self.html(),
            "description": None,
            "fork": False,
            "url": self.api(),
            "git_url": f"git://127.0.0.1/{self.full_name}.git",
            "clone_url": f"{self.html()}.git",
            "default_branch": self.default_branch,
            "archived": False,
            "disabled": False,
            "permissions": {"admin": False, "maintain": False, "push": True, "pull": True},
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "pushed_at": "2026-01-01T00:00:00Z",
        }
