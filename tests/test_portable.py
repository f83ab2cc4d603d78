"""The pipeline through PortableRunner, a local job service and an EXTERNAL worker pool.

This is the local stand-in for Dataflow's rules: the graph is pickled and sent to separate worker
processes started in another directory, so a DoFn that lives outside the installed packages, or an
unpicklable member, fails here as it would on a cluster.
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO, curate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture
def job_service(tmp_path):
    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    job_port, pool_port = _free_port(), _free_port()
    logs = open(tmp_path / "services.log", "wb")
    # The pool starts workers with `python` from PATH: make that this venv's interpreter.
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                          f"--port={job_port}"], cwd=elsewhere, stdout=logs, stderr=logs, env=env),
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                          f"--service_port={pool_port}"], cwd=elsewhere, stdout=logs, stderr=logs, env=env),
    ]
    try:
        _wait_for_port(job_port, procs[0])
        _wait_for_port(pool_port, procs[1])
        yield job_port, pool_port
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


def test_portable_runner_with_external_workers_gives_the_same_shards(tmp_path, data_dir, job_service):
    job_port, pool_port = job_service
    sources = [{"name": "warc", "glob": str(data_dir / "web_warc_dolma_wget" / "*.warc.gz")},
               {"name": "wiki", "glob": str(data_dir / "enwiki_xml_dump_sample" / "*.bz2"), "type": "wikipedia"},
               {"name": "jsonl", "glob": str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz")}]
    recipe = tmp_path / "recipe.json"  # JSON is YAML
    recipe.write_text(json.dumps({"sources": sources}))
    # The CLI in a subprocess, so a hung job fails the test instead of blocking it.
    cli = subprocess.run(
        [sys.executable, "-m", "pipelines.curate", "--config", str(recipe), "--output", str(tmp_path / "portable"),
         "--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
         "--environment_type=EXTERNAL", f"--environment_config=localhost:{pool_port}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-3000:]
    portable = json.loads((tmp_path / "portable" / "manifest.json").read_text())
    local = curate(tmp_path / "local", sources)
    assert local.problems == []
    totals = portable["totals"]  # 248 records on the shared data, of which over 100 are kept
    assert totals == local.stats["totals"] and totals["kept"] > totals["records"] / 3
    assert portable["runner"] == "PortableRunner"
    assert portable["fingerprint"] == local.manifest["fingerprint"]
