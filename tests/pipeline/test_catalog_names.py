"""The catalog finds a service by its name, by an alias, or by Kubernetes namespace
and workload; the alerts of one service then correlate as one whatever they call
it, and its dashboards reach the ticket. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest
from sqlalchemy import Engine, select

from autoticket.checks import check_config_text
from autoticket.config import parse_config_text
from autoticket.model import Delivery
from autoticket.store.tables import events, incidents, outbox
from conftest import am_alert, am_payload, process

CONFIG = """
catalog:
  services:
    checkout:
      team: shop
      aliases: [checkout-svc, checkout-api]
      dashboards: {latency: "https://grafana.example/d/checkout"}
      kubernetes: {namespace: shop, workload: checkout-web}
routes:
  - name: default
"""


def test_an_alias_and_kubernetes_keys_name_the_catalog_service(
    engine: Engine, t0: datetime
) -> None:
    config = parse_config_text(CONFIG)
    alerts = [
        am_alert(alertname="HighErrorRate", service="checkout"),
        am_alert(alertname="HighLatencyP99", service="checkout-svc"),
        am_alert(
            alertname="KubePodCrashLooping",
            service="",
            namespace="shop",
            pod="checkout-web-7d9f-x2",
        ),
        am_alert(
            alertname="KubeDeploymentReplicasMismatch",
            service="",
            namespace="shop",
            deployment="checkout-web",
        ),
        am_alert(alertname="Other", service="", namespace="other", deployment="checkout-web"),
    ]
    with engine.begin() as conn:
        body = orjson.dumps(am_payload(*alerts))
        process(conn, config, [Delivery("d1", "alertmanager", t0, body, {})], t0)
    with engine.connect() as conn:
        keys = sorted(conn.execute(select(incidents.c.correlation_key)).scalars())
        payloads = conn.execute(select(outbox.c.payload)).scalars().all()
        decided = conn.execute(select(events.c.title, events.c.team, events.c.decisions)).all()
    assert keys == [
        "default|alertname=Other,environment=prod",
        "default|cluster=,environment=prod,service=checkout",
    ]
    teams = {title.split(" ")[0]: team for title, team, _ in decided}
    assert teams == {
        "HighErrorRate": "shop",
        "HighLatencyP99": "shop",
        "KubePodCrashLooping": "shop",
        "KubeDeploymentReplicasMismatch": "shop",
        "Other": None,
    }
    found_by = sorted(
        d["inputs"]["service_found_by"]
        for _, _, ds in decided
        for d in ds
        if d["stage"] == "enrich" and "service_found_by" in d["inputs"]
    )
    assert found_by == [
        "alias 'checkout-svc'",
        "kubernetes shop/checkout-web",
        "kubernetes shop/checkout-web-7d9f-x2",
    ]
    [shop] = [p for p in payloads if p["team"] == "shop"]
    assert "Dashboard latency: https://grafana.example/d/checkout" in shop["body"]


CATALOG = """
catalog:
  services:
    checkout: {team: shop, aliases: [%s], dashboards: {x: '%s'}}
    search: {team: find, aliases: [%s]}
routes:
  - name: default
"""


@pytest.mark.parametrize(
    ("checkout", "url", "search", "path", "message"),
    [
        (
            "co, search",
            "https://g/x",
            "s",
            "catalog.services.checkout.aliases.1",
            "a service of its own",
        ),
        (
            "co",
            "https://g/x",
            "co",
            "catalog.services.search.aliases.0",
            "already an alias of 'checkout'",
        ),
        (
            "co",
            "ftp://g/x",
            "s",
            "catalog.services.checkout.dashboards.x",
            "not an absolute http(s) URL",
        ),
    ],
)
def test_check_config_names_colliding_aliases_and_bad_dashboards(
    checkout: str, url: str, search: str, path: str, message: str
) -> None:
    text = CATALOG % (checkout, url, search)
    [problem] = check_config_text(text, "c.yaml").errors
    assert problem.path == path and message in problem.message and problem.line is not None
    assert check_config_text(CATALOG % ("co", "https://g/x", "s"), "c.yaml").errors == []
