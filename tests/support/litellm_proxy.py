"""A real LiteLLM proxy (1.106.2, its own virtualenv: `make litellm`) on 127.0.0.1 with mock models and tokenbot's
plugin, as examples/litellm/config.yaml sets it up. Offline: LITELLM_LOCAL_MODEL_COST_MAP=True, no database."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.serve import ROOT, Replica, free_port, wait_healthy

MASTER_KEY = "sk-litellm-master-change-me"
PLUGIN = ROOT / "integrations" / "litellm" / "tokenbot_litellm.py"
EXAMPLE_CONFIG = ROOT / "examples" / "litellm" / "config.yaml"


def litellm_binary() -> str:
    path = os.environ.get("TOKENBOT_TEST_LITELLM") or str(ROOT / ".venv-litellm" / "bin" / "litellm")
    if not Path(path).exists():
        pytest.fail(f"no LiteLLM proxy at {path}: run `make litellm` (make test does it) or set TOKENBOT_TEST_LITELLM")
    return path


def write_config(directory: Path, extra_models: list[dict] | None = None) -> Path:
    """The example config (mock models, master key, the plugin), plus test models, with the plugin beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["model_list"] += extra_models or []
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    shutil.copyfile(PLUGIN, directory / "tokenbot_litellm.py")
    return path


async def start_proxy(workdir: Path, config: Path, tokenbot_urls: list[str], token: str, spool: Path,
                      port: int | None = None, **env: str) -> Replica:
    port = port or free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOT_")} | {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True", "TOKENBOT_URL": ",".join(tokenbot_urls), "TOKENBOT_TOKEN": token,
        "TOKENBOT_SPOOL_DIR": str(spool), "TOKENBOT_FLUSH_INTERVAL_S": "0.5"} | env
    log = workdir / f"litellm-{port}.log"
    with log.open("a") as sink:
        proc = subprocess.Popen([litellm_binary(), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                                 "--num_workers", "1"], cwd=config.parent, env=environment, stdout=sink,
                                stderr=subprocess.STDOUT)
    proxy = Replica("litellm", f"http://127.0.0.1:{port}", proc, log, port, environment)
    await wait_healthy(proxy, "/health/liveliness", tries=1200)  # it starts in about 9 s; 2 minutes at most
    return proxy


__all__ = ["MASTER_KEY", "write_config", "start_proxy", "litellm_binary"]
