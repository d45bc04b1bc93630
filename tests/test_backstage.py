"""Backstage catalog import: Components and Resources become services, Groups teams,
from files (globs, relative to the config) and URLs; the YAML's own entries win;
what cannot be read or mapped is reported, never fatal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoticket.backstage import import_backstage
from autoticket.checks import check_config_file
from autoticket.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "backstage"


@pytest.fixture
def catalog_url() -> Iterator[str]:
    """A Backstage catalog file served over HTTP on 127.0.0.1, and a 404 beside it."""
    body = (FIXTURES / "shop.yaml").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/catalog-info.yaml"
            self.send_response(200 if found else 404)
            self.send_header("content-type", "application/yaml")
            self.end_headers()
            self.wfile.write(body if found else b"")

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_components_resources_and_groups_become_the_catalog() -> None:
    imported = import_backstage(["shop.yaml"], FIXTURES)
    assert imported.problems == [] and imported.sources == 1 and imported.skipped == 1  # a User
    checkout = imported.services["checkout"]
    assert checkout.team == "shop" and checkout.tier == "1"
    assert checkout.depends_on == ["payments-api", "orders-db"]
    assert checkout.runbook == "https://runbooks.example/checkout"
    assert checkout.dashboards == {"latency": "https://grafana.example/d/checkout"}
    assert checkout.aliases == ["checkout-svc", "checkout-api"]
    assert checkout.kubernetes is not None
    assert (checkout.kubernetes.namespace, checkout.kubernetes.workload) == ("shop", "checkout-web")
    assert checkout.repo == "example/checkout"
    assert imported.services["cart"].team == "shop"  # its system's owner
    assert imported.services["orders-db"].team == "data"
    shop = imported.teams["shop"]
    assert (shop.name, shop.email, shop.slack) == ("Shop team", "shop@example.com", "#shop-oncall")


def test_what_cannot_be_read_or_mapped_is_reported_and_the_rest_imported(
    catalog_url: str,
) -> None:
    imported = import_backstage(
        ["broken.yaml", "missing/*.yaml", f"{catalog_url}/catalog-info.yaml", f"{catalog_url}/x"],
        FIXTURES,
    )
    assert "checkout" in imported.services  # from the URL
    assert "orphan" not in imported.services
    problems = "\n".join(imported.problems)
    assert "document 1 (Component 'orphan'): spec.owner: none, nor an owning System's" in problems
    assert "document 2: not a Backstage entity" in problems
    assert "missing/*.yaml: cannot be read: no file matches" in problems
    assert f"{catalog_url}/x: cannot be read" in problems and "404" in problems
    assert len(imported.problems) == 4


def test_the_config_imports_on_load_and_its_own_entries_win(tmp_path: Path) -> None:
    (tmp_path / "catalogs").mkdir()
    (tmp_path / "catalogs" / "shop.yaml").write_bytes((FIXTURES / "shop.yaml").read_bytes())
    config_path = tmp_path / "autoticket.yaml"
    config_path.write_text(
        "catalog:\n"
        "  backstage: ['catalogs/*.yaml', 'nowhere.yaml']\n"
        "  services:\n"
        "    orders-db: {team: shop}\n"
        "routes:\n  - name: default\n",
        encoding="utf-8",
    )
    report = check_config_file(config_path)
    assert report.errors == []
    config = report.checked()
    services = config.catalog.services
    assert services["checkout"].team == "shop" and services["orders-db"].team == "shop"
    [warning] = [w for w in report.warnings if w.path == "catalog.backstage"]
    assert warning.line == 2 and "nowhere.yaml: cannot be read" in warning.message
    # The imported entries are checked like written ones.
    assert any("'payments-api' is not in the catalog" in w.message for w in report.warnings)


def test_the_import_command_prints_the_catalog_it_makes() -> None:
    result = CliRunner().invoke(app, ["catalog", "import", str(FIXTURES / "shop.yaml")])
    assert result.exit_code == 0, result.output
    assert "checkout:\n      team: shop\n" in result.stdout
    failed = CliRunner().invoke(app, ["catalog", "import", str(FIXTURES / "broken.yaml")])
    assert failed.exit_code == 1
    assert "spec.owner: none" in failed.stderr
