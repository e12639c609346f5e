"""Real `tokenbot serve` processes for tests: started on a free port, waited for, stopped or killed.

Nothing is patched: each is `python -m bot.cli serve` with its settings in the environment. Every wait is a bounded
polling loop; nothing asserts on elapsed time."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replica:
    name: str
    url: str
    proc: subprocess.Popen
    log: Path
    port: int
    env: dict[str, str]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tokenbot_env(database_url: str, org_file: Path, port: int, ingest_token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    return env | {"TOKENBOT_DATABASE_URL": database_url, "TOKENBOT_PORT": str(port), "TOKENBOT_HOST": "127.0.0.1",
                  "TOKENBOT_INGEST_TOKENS": ingest_token, "TOKENBOT_ORG_FILE": str(org_file),
                  "TOKENBOT_LOG_FORMAT": "text"} | extra


async def wait_healthy(replica: Replica, path: str = "/healthz", tries: int = 300) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(tries):  # bounded: tries x ~0.1 s
            if replica.proc.poll() is not None:
                raise AssertionError(f"{replica.name} exited with {replica.proc.returncode}:\n{replica.log_tail()}")
            try:
                async with http.get(f"{replica.url}{path}", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{replica.name} never became healthy:\n{replica.log_tail()}")


async def start_tokenbot(name: str, tmp_path: Path, env: dict[str, str]) -> Replica:
    port = int(env["TOKENBOT_PORT"])
    log = tmp_path / f"tokenbot-{name}.log"
    with log.open("a") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT)
    replica = Replica(name, f"http://127.0.0.1:{port}", proc, log, port, env)
    await wait_healthy(replica)
    return replica


async def stop(replica: Replica, sig: int = signal.SIGTERM) -> None:
    """SIGTERM (a clean stop) or SIGKILL (a crash), then wait for the process, without blocking the event loop."""
    if replica.proc.poll() is None:
        replica.proc.send_signal(sig)
        for _ in range(150):  # bounded: ~15 s
            if replica.proc.poll() is not None:
                return
            await asyncio.sleep(0.1)
        replica.proc.kill()
        replica.proc.wait(timeout=10)


__all__ = ["Replica", "free_port", "tokenbot_env", "start_tokenbot", "stop", "wait_healthy", "ROOT"]
