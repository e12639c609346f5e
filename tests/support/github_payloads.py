"""GitHub webhook deliveries, shaped as GitHub documents them and signed as GitHub signs them.

Payload shapes follow "Webhook events and payloads" (https://docs.github.com/en/webhooks/webhook-events-and-payloads:
`pull_request` action `closed`, `push`, `deployment_status`, `ping`), with the objects GitHub embeds (repository,
sender, user) trimmed to a representative subset of their documented fields; note that in `push` payloads
`repository.pushed_at`/`created_at` are epoch seconds while other events carry ISO 8601 strings, as GitHub sends
them. Headers and signature follow "Validating webhook deliveries"
(https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries): X-Hub-Signature-256 is
`sha256=` + the hex HMAC-SHA256 of the raw body keyed with the webhook secret."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

WEBHOOK_SECRET = "gh-webhook-secret-for-tests"


def user(login: str, uid: int = 1, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": uid, "node_id": f"MDQ6VXNlcj{uid}", "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "", "url": f"https://api.github.com/users/{login}", "html_url": f"https://github.com/{login}",
            "type": kind, "site_admin": False}


def repository(full_name: str = "acme/api", default_branch: str = "main", push_event: bool = False) -> dict[str, Any]:
    owner, name = full_name.split("/")
    repo = {"id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": name, "full_name": full_name,
            "private": True, "owner": user(owner, 21031067, "Organization"), "html_url": f"https://github.com/{full_name}",
            "description": None, "fork": False, "url": f"https://api.github.com/repos/{full_name}",
            "default_branch": default_branch, "visibility": "private", "open_issues_count": 2, "forks": 0,
            "watchers": 0}
    if push_event:  # push payloads carry these as epoch seconds (and `master_branch`)
        repo |= {"created_at": 1557933565, "updated_at": "2026-11-18T14:00:00Z", "pushed_at": None,
                 "master_branch": default_branch}
    else:
        repo |= {"created_at": "2019-05-15T15:19:25Z", "updated_at": "2026-11-18T14:00:00Z",
                 "pushed_at": "2026-11-18T14:00:00Z"}
    return repo


def pull_request_closed(number: int, author: str, merged: bool = True, title: str = "Add rate limiter",
                        body: str | None = "Adds a token bucket.", merged_at: str = "2026-11-18T14:00:00Z",
                        repo: str = "acme/api", merge_commit_sha: str | None = None) -> dict[str, Any]:
    sha = merge_commit_sha or hashlib.sha1(f"{repo}#{number}".encode()).hexdigest()
    pr = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}", "id": 279147437 + number,
          "node_id": "MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3", "html_url": f"https://github.com/{repo}/pull/{number}",
          "diff_url": f"https://github.com/{repo}/pull/{number}.diff", "number": number, "state": "closed",
          "locked": False, "title": title, "user": user(author, 100 + number), "body": body,
          "created_at": "2026-11-17T09:00:00Z", "updated_at": merged_at, "closed_at": merged_at,
          "merged_at": merged_at if merged else None, "merge_commit_sha": sha, "assignee": None, "assignees": [],
          "requested_reviewers": [], "labels": [], "draft": False,
          "head": {"label": f"{author}:feature-{number}", "ref": f"feature-{number}", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                   "user": user(author, 100 + number), "repo": repository(repo)},
          "base": {"label": f"{repo.split('/')[0]}:main", "ref": "main", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                   "user": user(repo.split("/")[0], 21031067, "Organization"), "repo": repository(repo)},
          "author_association": "MEMBER", "auto_merge": None, "merged": merged, "mergeable": None,
          "merged_by": user("maintainer", 7) if merged else None, "comments": 0, "review_comments": 0, "commits": 1,
          "additions": 12, "deletions": 3, "changed_files": 2}
    return {"action": "closed", "number": number, "pull_request": pr, "repository": repository(repo),
            "sender": user("maintainer", 7)}


def push(sender: str, commits: list[tuple[str, str]], ref: str = "refs/heads/main", repo: str = "acme/api",
         pushed_at: int = 1_795_010_400) -> dict[str, Any]:
    """`commits`: (sha, message) pairs, oldest first."""
    repository_obj = repository(repo, push_event=True) | {"pushed_at": pushed_at}
    entries = [{"id": sha, "tree_id": hashlib.sha1(sha.encode()).hexdigest(), "distinct": True, "message": message,
                "timestamp": "2026-11-18T15:59:50+01:00", "url": f"https://github.com/{repo}/commit/{sha}",
                "author": {"name": sender, "email": f"{sender}@users.noreply.github.com", "username": sender},
                "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
                "added": [], "removed": [], "modified": ["README.md"]} for sha, message in commits]
    after = commits[-1][0] if commits else "0" * 40
    return {"ref": ref, "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "after": after,
            "repository": repository_obj, "pusher": {"name": sender, "email": f"{sender}@users.noreply.github.com"},
            "sender": user(sender, 300), "created": False, "deleted": False, "forced": False, "base_ref": None,
            "compare": f"https://github.com/{repo}/compare/6113728f27ae...{after[:12]}", "commits": entries,
            "head_commit": entries[-1] if entries else None}


def deployment_status(deployment_id: int, creator: str, state: str = "success", repo: str = "acme/api",
                      created_at: str = "2026-11-18T14:30:00Z", environment: str = "production") -> dict[str, Any]:
    sha = hashlib.sha1(f"deploy-{deployment_id}".encode()).hexdigest()
    deployment = {"url": f"https://api.github.com/repos/{repo}/deployments/{deployment_id}", "id": deployment_id,
                  "node_id": "MDEwOkRlcGxveW1lbnQzOTA5NDIyNTE=", "sha": sha, "ref": "main", "task": "deploy",
                  "payload": {}, "original_environment": environment, "environment": environment, "description": None,
                  "creator": user(creator, 400), "created_at": "2026-11-18T14:25:00Z", "updated_at": created_at,
                  "statuses_url": f"https://api.github.com/repos/{repo}/deployments/{deployment_id}/statuses",
                  "repository_url": f"https://api.github.com/repos/{repo}", "transient_environment": False,
                  "production_environment": environment == "production"}
    status = {"url": f"https://api.github.com/repos/{repo}/deployments/{deployment_id}/statuses/1",
              "id": 9000 + deployment_id, "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXM=", "state": state,
              "creator": user(creator, 400), "description": "", "environment": environment,
              "target_url": f"https://ci.acme.example/deploys/{deployment_id}", "created_at": created_at,
              "updated_at": created_at, "deployment_url": deployment["url"],
              "repository_url": f"https://api.github.com/repos/{repo}", "environment_url": "https://api.acme.example",
              "log_url": f"https://ci.acme.example/deploys/{deployment_id}/log"}
    return {"action": "created", "deployment_status": status, "deployment": deployment,
            "repository": repository(repo), "sender": user(creator, 400)}


def ping() -> dict[str, Any]:
    return {"zen": "Keep it logically awesome.", "hook_id": 30,
            "hook": {"type": "Repository", "id": 30, "name": "web", "active": True, "events": ["*"],
                     "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://tokenbot.example/v1/ingest/github"}},
            "repository": repository(), "sender": user("octocat")}


def signed(event: str, payload: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET,
           delivery: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub sends for one delivery."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, indent=2).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-GitHub-Hook-ID": "292430182", "X-GitHub-Hook-Installation-Target-ID": "79929171",
               "X-GitHub-Hook-Installation-Target-Type": "repository", "X-Hub-Signature-256": signature,
               "User-Agent": "GitHub-Hookshot/044aadd", "Content-Type": "application/json"}
    return body, headers
