"""A fake ServiceNow Table API: records with sys_id, number, state, journal work notes.

Follows the published API: `/api/now/table/<table>`, answers wrapped in
`{"result": ...}` (a list for a query, an object for one record), values as
strings, errors as `{"error": {"message", "detail"}, "status": "failure"}`;
basic or bearer auth. Incident states: 1 New, 2 In Progress, 3 On Hold,
6 Resolved, 7 Closed, 8 Canceled.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from fakes.base import FakeService, json_of

CONDITION = re.compile(r"([a-z_]+)(STARTSWITH|>=|>|=)(.*)")
OPS = {
    "=": lambda have, want: have == want,
    ">": lambda have, want: have > want,
    ">=": lambda have, want: have >= want,
    "STARTSWITH": lambda have, want: have.startswith(want),
}
PRIORITY = {(1, 1): "1", (1, 2): "2", (2, 1): "2", (2, 2): "3", (1, 3): "3", (3, 1): "3"}


class FakeServiceNow(FakeService):
    def __init__(
        self,
        fail_rate: float = 0.0,
        seed: int = 0,
        *,
        user: str = "autoticket",
        password: str = "sn-password",
        token: str | None = None,
        tables: tuple[str, ...] = ("incident",),
    ) -> None:
        super().__init__(fail_rate, seed)
        if token is not None:
            self.auth = f"Bearer {token}"
        else:
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.tables = set(tables)
        self.user = user if token is None else "oauth.user"
        self.clock = 0
        self.tickets: dict[str, dict[str, Any]] = {}
        self._count = 10000

    # -- what a person does in ServiceNow --------------------------------
    def human_close(
        self, ref: str, resolution: str = "Closed/Resolved by Caller", by: str = "ann"
    ) -> None:
        """Closed (state 7) with `resolution` as the close code."""
        self._touch(self.tickets[ref], by, state="7", close_code=resolution)

    def human_resolve(self, ref: str, close_code: str, by: str = "ann") -> None:
        self._touch(self.tickets[ref], by, state="6", close_code=close_code)

    def human_reopen(self, ref: str, by: str = "ann") -> None:
        self._touch(self.tickets[ref], by, state="2", close_code="")

    def human_assign(self, ref: str, assignee: str, by: str = "ann") -> None:
        self._touch(self.tickets[ref], by, assigned_to=assignee)

    def _touch(self, record: dict[str, Any], by: str, **values: str) -> None:
        self.clock += 1
        stamp = f"2026-01-05 10:{self.clock // 60:02d}:{self.clock % 60:02d}"
        record.update(values, sys_updated_by=by, sys_updated_on=stamp)

    def state_of(self, ref: str) -> str:
        return "closed" if self.tickets[ref]["state"] in ("6", "7", "8") else "open"

    def comments_of(self, ref: str) -> list[str]:
        return list(self.tickets[ref]["work_notes"])

    # -- the API -----------------------------------------------------------
    def error(self, status: int, message: str, detail: str | None = None) -> httpx.Response:
        body = {"error": {"message": message, "detail": detail}, "status": "failure"}
        return httpx.Response(status, json=body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != self.auth:
            return self.error(401, "User Not Authenticated", "Required to provide Auth information")
        match = re.fullmatch(
            r"/api/now/table/([a-z0-9_]+)(?:/([0-9a-f]{32}|[^/]+))?", request.url.path
        )
        if match is None:
            return self.error(400, "Requested URI does not represent any resource")
        table, sys_id = match.groups()
        if table not in self.tables:
            return self.error(400, f"Invalid table {table}")
        params = request.url.params
        if sys_id is None and request.method == "GET":
            return self._query(table, params.get("sysparm_query", ""), params)
        if sys_id is None and request.method == "POST":
            return self._create(table, json_of(request))
        record = self.tickets.get(sys_id or "")
        if record is None or record["table"] != table:
            return self.error(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        if request.method == "GET":
            display = params.get("sysparm_display_value") == "true"
            return httpx.Response(200, json={"result": self._json(record, params, display)})
        if request.method in ("PATCH", "PUT"):
            return self._update(record, json_of(request))
        return self.error(405, "Method not Supported")

    def _json(self, record: dict[str, Any], params: Any, display: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in record.items() if k not in ("table", "work_notes")}
        notes = record["work_notes"]
        out["work_notes"] = (
            "".join(
                f"2026-01-05 10:00:00 - autoticket (Work notes)\n{n}\n\n" for n in reversed(notes)
            )
            if display
            else ""
        )
        wanted = params.get("sysparm_fields")
        if wanted:
            out = {k: out.get(k, "") for k in wanted.split(",")}
        return out

    def _query(self, table: str, query: str, params: Any) -> httpx.Response:
        conditions = [c for c in query.split("^") if c and not c.startswith("ORDERBY")]
        found = [r for r in self.tickets.values() if r["table"] == table]
        for condition in conditions:
            match = CONDITION.fullmatch(condition)
            if match is None:
                return self.error(400, f"Invalid query: {condition}")
            name, op, value = match.groups()
            found = [r for r in found if OPS[op](str(r.get(name, "")), value)]
        limit = int(params.get("sysparm_limit", "10000"))
        return httpx.Response(200, json={"result": [self._json(r, params) for r in found[:limit]]})

    def _create(self, table: str, body: dict[str, Any]) -> httpx.Response:
        if not isinstance(body, dict):
            return self.error(400, "Exception while reading request", "Request body is not JSON")
        self._count += 1
        sys_id = f"{self._count:032x}"
        record: dict[str, Any] = {
            "table": table,
            "sys_id": sys_id,
            "number": f"INC{self._count:07d}",
            "state": "1",
            "urgency": "3",
            "impact": "3",
            "close_code": "",
            "close_notes": "",
            "assigned_to": "",
            "work_notes": [],
        }
        self._apply(record, body)
        self.tickets[sys_id] = record
        location = f"https://example.service-now.com/api/now/table/{table}/{sys_id}"
        return httpx.Response(
            201, json={"result": self._json(record, {})}, headers={"Location": location}
        )

    def _update(self, record: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        if record["state"] in ("7", "8") and body.get("state") not in (None, record["state"]):
            return self.error(403, "Operation Failed", "Closed records are read-only")
        self._apply(record, body)
        return httpx.Response(200, json={"result": self._json(record, {})})

    def _apply(self, record: dict[str, Any], body: dict[str, Any]) -> None:
        for name, value in body.items():
            if name == "work_notes":
                if value:
                    record["work_notes"].append(str(value))
            else:
                record[name] = str(value)
        self._touch(record, self.user)
        key = (int(record["impact"]), int(record["urgency"]))
        record["priority"] = PRIORITY.get(key, "4" if sum(key) == 5 else "5")
