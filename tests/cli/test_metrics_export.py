"""A failed metrics export never changes the run's exit code (issue 13, point 16).

The exit code says whether AWS is converged; a Pushgateway that is down, answers an error or a
metrics file that cannot be written is a warning naming the URL or the path as given, and the
run's report says so: ``metrics_export_failed`` in the ``run.summary`` event and in the JSON
summary, a ``Warning:`` line at the end of the text output.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler import metrics
from tests.cli.conftest import Bed, manifest, org_account

MEMBERS = [org_account(i) for i in range(3)]


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Failing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def failing_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


def converged_bed(make_bed: Callable[..., Bed]) -> tuple[Bed, Path]:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS, regions=["us-east-1"]))
    assert bed.run("--manifest", path).code == 0  # converge first: the next runs exit 0
    return bed, path


def test_an_unreachable_pushgateway_leaves_exit_0(make_bed: Callable[..., Bed]) -> None:
    bed, path = converged_bed(make_bed)
    url = closed_port_url()
    result = bed.run(
        "--manifest", path, "--pushgateway", url, "--output", "json", "--log-format", "json"
    )
    assert result.code == 0, result.stderr
    logged = events(result.stderr)
    [warning] = [e for e in logged if e["event"] == "metrics.export_failed"]
    assert warning["level"] == "warning"
    assert warning["url"] == url
    assert "refused" in warning["error"].lower()
    assert logged[-1]["event"] == "run.summary"
    assert logged[-1]["exit_code"] == 0
    assert logged[-1]["metrics_export_failed"] is True
    assert result.json()["summary"]["metrics_export_failed"] is True


def test_a_pushgateway_error_leaves_changes_pending_exit_2(
    make_bed: Callable[..., Bed], failing_gateway: str
) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS, regions=["us-east-1"]))
    result = bed.run(
        "--manifest",
        path,
        "--dry-run",
        "--detailed-exitcode",
        "--pushgateway",
        failing_gateway,
        "--log-format",
        "json",
    )
    assert result.code == 2
    [warning] = [e for e in events(result.stderr) if e["event"] == "metrics.export_failed"]
    assert warning["error"] == "HTTP 500 Internal Server Error"
    # The text output ends with the warning, after the verdict.
    assert result.stdout.endswith(
        f"Warning: metrics not pushed to {failing_gateway}: HTTP 500 Internal Server Error.\n"
    )


def test_a_metrics_file_that_cannot_be_written_leaves_exit_0(
    make_bed: Callable[..., Bed], monkeypatch: pytest.MonkeyPatch
) -> None:
    bed, path = converged_bed(make_bed)

    def disk_full(registry: Any, target: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", f"{target}.tmp1234")

    # The directory was fine before the run; the disk fills up while it runs.
    monkeypatch.setattr(metrics, "write_textfile", disk_full)
    given = "metrics/../reconciler.prom"
    (bed.tmp / "metrics").mkdir()
    monkeypatch.chdir(bed.tmp)
    result = bed.run("--manifest", path, "--metrics-file", given, "--log-format", "json")
    assert result.code == 0
    [warning] = [e for e in events(result.stderr) if e["event"] == "metrics.export_failed"]
    assert (warning["path"], warning["error"]) == (given, "No space left on device")
    assert ".tmp1234" not in result.stderr + result.stdout  # the path as the user gave it
    assert result.stdout.endswith(
        f"Warning: metrics not written to {given}: No space left on device.\n"
    )


def test_a_failed_run_stays_failed_and_still_warns(make_bed: Callable[..., Bed]) -> None:
    bed = make_bed()
    path = bed.write_manifest(manifest(MEMBERS, administrator="123456789012"))
    url = closed_port_url()
    result = bed.run("--manifest", path, "--pushgateway", url, "--log-format", "json")
    assert result.code == 1  # identity mismatch, exported from the exception path
    error_lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(error_lines) == 1
    assert "123456789012" in error_lines[0]
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [e["url"] for e in logged if e["event"] == "metrics.export_failed"] == [url]


def test_a_password_in_the_pushgateway_url_is_not_shown(make_bed: Callable[..., Bed]) -> None:
    bed, path = converged_bed(make_bed)
    url = closed_port_url().replace("//", "//reconciler:s3cret-token@")
    result = bed.run("--manifest", path, "--pushgateway", url, "--log-format", "json")
    assert result.code == 0
    assert "s3cret-token" not in result.stdout + result.stderr
    [warning] = [e for e in events(result.stderr) if e["event"] == "metrics.export_failed"]
    assert warning["url"].startswith("http://reconciler:***@127.0.0.1:")


def test_a_working_export_reports_no_failure(make_bed: Callable[..., Bed], tmp_path: Path) -> None:
    bed, path = converged_bed(make_bed)
    target = tmp_path / "reconciler.prom"
    result = bed.run(
        "--manifest", path, "--metrics-file", target, "--output", "json", "--log-format", "json"
    )
    assert result.code == 0
    assert "reconciler_exit_code 0.0" in target.read_text()
    assert result.json()["summary"]["metrics_export_failed"] is False
    assert not [e for e in events(result.stderr) if e["event"] == "metrics.export_failed"]
    # Without an export asked for, the summary has no such field.
    plain = bed.run("--manifest", path, "--output", "json", "--log-format", "json")
    assert "metrics_export_failed" not in plain.json()["summary"]
