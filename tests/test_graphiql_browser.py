"""GraphiQL in a real browser (Debian's ``chromium``, driven by Playwright): the page renders from the package's
own assets while every request leaving the server's origin is refused, a query runs with the token pasted into
its Headers editor, and a subscription runs over the websocket with that token in ``connection_init``.

The app runs in a uvicorn process of its own on the test database. CI installs chromium (``.ci/run``); where it
is missing the browser tests fail, saying how to install it, rather than skip."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, WebSocket, async_playwright, expect

from tandem.auth import mint_token
from tandem.domain.tenancy.org import create_org
from tandem.domain.tenancy.user import create_user
from tandem.graphiql import STATIC
from tests.conftest import REDIS_URL
from tests.factories.servers import free_port
from tests.factories.waiting import eventually, eventually_blocking

ROOT = Path(__file__).resolve().parent.parent
ASSETS = STATIC / "graphiql"
OWN_FILES = {"tandem-graphiql.js", "tandem-graphiql.css", "VENDORED.md"}
PAGE_ASSETS = ["graphiql.min.css", "graphiql.min.js", "graphql-ws.min.js", "react-dom.production.min.js",
               "react.production.min.js", "tandem-graphiql.css", "tandem-graphiql.js"]

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".result-window"

ME = "{ me { email } }"
CUSTOMERS_CREATED = 'subscription { changeFeed(types: ["Customer"]) { recordType operation payload } }'
CREATE_CUSTOMER = "mutation($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }"

CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective));
"""


# --- the app in a process of its own --------------------------------------------------------------------------


@dataclass
class Server:
    origin: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def server(database_url: str, db: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tandem.app`` under uvicorn on a free loopback port, on the test database (migrated and seeded by ``db``),
    with introspection on so GraphiQL reads the schema."""
    port = free_port()
    log = tmp_path_factory.mktemp("graphiql") / "server.log"
    env = {**os.environ, "TANDEM_DATABASE_URL": database_url, "TANDEM_INTROSPECTION": "true",
           "TANDEM_LOG_LEVEL": "WARNING"}
    env.pop("TANDEM_REDIS_URL", None)
    if REDIS_URL:
        env["TANDEM_REDIS_URL"] = REDIS_URL
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tandem.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    started = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        def ready() -> bool:
            assert process.poll() is None, f"the server exited:\n{log.read_text()}"
            try:
                return httpx.get(f"{started.origin}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        eventually_blocking(ready, within=60, what=lambda: f"the server to be ready:\n{log.read_text()}")
        yield started
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass(frozen=True)
class Admin:
    email: str
    token: str


@pytest.fixture(scope="module")
async def admin(db: Any, settings: Any) -> Admin:
    """The admin of an org of its own: nothing happens in it but what these tests do."""
    async with db.write() as session:
        org = await create_org(session, f"GraphiQL {uuid.uuid4().hex[:8]}")
        user = await create_user(session, org.id, email=f"{uuid.uuid4().hex[:12]}@graphiql.test", name="Admin",
                                 roles=["admin"])
    return Admin(user.email, mint_token(settings, user))


# --- the browser ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("GraphiQL's browser test needs Chromium: apt-get install -y chromium "
                    "(.ci/run installs it before the tests)", pytrace=False)
    return path


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # the system's chromium (no browser download); its sandbox cannot start as root
        launched = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Visit:
    """A browser tab and everything it asked for."""

    page: Page
    origin: str
    requests: list[Request] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Requests for anything outside the server's origin (refused before they leave the browser)."""
    sockets: list[WebSocket] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Uncaught script errors."""

    def assert_stayed_home(self) -> None:
        """Nothing was asked of another origin, no script threw and the page's CSP refused nothing."""
        assert self.refused == []
        assert {urlsplit(r.url).netloc for r in self.requests} == {urlsplit(self.origin).netloc}
        assert all(urlsplit(s.url).netloc == urlsplit(self.origin).netloc for s in self.sockets)
        assert self.errors == []


@pytest.fixture
async def visit(browser: Browser, server: Server) -> AsyncIterator[Visit]:
    context = await browser.new_context()
    page = await context.new_page()
    seen = Visit(page, server.origin)

    async def only_the_origin(route: Any) -> None:
        if route.request.url.startswith(server.origin + "/"):
            await route.continue_()
        else:
            seen.refused.append(route.request.url)
            await route.abort()

    def on_socket(socket: WebSocket) -> None:
        seen.sockets.append(socket)
        socket.on("framesent", lambda frame: seen.frames_sent.append(frame if isinstance(frame, str) else ""))

    await context.route("**/*", only_the_origin)
    await context.add_init_script(CSP_VIOLATIONS)
    page.on("request", lambda request: seen.requests.append(request))
    page.on("websocket", on_socket)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    try:
        yield seen
    finally:
        await context.close()


async def open_graphiql(visit: Visit) -> Page:
    page = visit.page
    await page.goto(f"{visit.origin}/graphql")
    await expect(page.locator(QUERY_EDITOR)).to_be_visible()
    return page


async def replace_text(page: Page, editor: str, text: str) -> None:
    """Select everything in one of GraphiQL's editors and paste ``text`` over it."""
    await page.locator(editor).click()
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(text)


async def paste_token(page: Page, token: str) -> None:
    await replace_text(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))


async def run(page: Page, document: str) -> None:
    await replace_text(page, QUERY_EDITOR, document)
    await page.locator(".graphiql-execute-button").click()


# --- tests ----------------------------------------------------------------------------------------------------


async def test_graphiql_renders_offline_and_runs_a_query_with_the_pasted_token(visit: Visit, admin: Admin):
    # given GraphiQL opened in the browser, nothing outside the server reachable
    page = await open_graphiql(visit)
    assert "Loading" not in await page.locator("#graphiql").inner_text()
    # when the user pastes a token into Headers and runs a query
    await paste_token(page, admin.token)
    await run(page, ME)
    # then the answer is in the result pane
    await expect(page.locator(RESULT)).to_contain_text(f'"email": "{admin.email}"')
    # and GraphiQL read the schema again with the pasted token (its docs and completion follow the token)
    introspected = [await r.header_value("authorization") for r in visit.requests
                    if r.method == "POST" and "IntrospectionQuery" in (r.post_data or "")]
    assert f"Bearer {admin.token}" in introspected
    # and the page loaded its own assets only, from the package
    loaded = sorted(urlsplit(r.url).path.removeprefix("/graphql/assets/") for r in visit.requests
                    if urlsplit(r.url).path.startswith("/graphql/assets/"))
    assert loaded == PAGE_ASSETS
    visit.assert_stayed_home()
    assert await page.evaluate("window.cspViolations") == []


async def test_a_subscription_in_graphiql_runs_over_the_websocket_with_the_pasted_token(
        visit: Visit, admin: Admin, server: Server):
    # given GraphiQL with a token pasted
    page = await open_graphiql(visit)
    await paste_token(page, admin.token)
    # when the user subscribes to created customers and one is created meanwhile
    await run(page, CUSTOMERS_CREATED)
    name = f"Seen in GraphiQL {uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=server.origin, timeout=10) as http:

        async def seen() -> bool:
            # created again until one arrives: the subscription starts live once the server has it
            response = await http.post("/graphql", json={"query": CREATE_CUSTOMER, "variables": {"name": name}},
                                       headers={"authorization": f"Bearer {admin.token}"})
            assert response.json()["data"]["createCustomer"]["customer"]["id"]
            return name in await page.locator(RESULT).inner_text()

        await eventually(seen, within=30, every=0.5, what="the created customer in GraphiQL's result pane")
    # then the event came over this origin's websocket, opened with the pasted token
    [socket] = visit.sockets
    assert socket.url == f"{server.origin.replace('http', 'ws', 1)}/graphql"
    init = json.loads(visit.frames_sent[0])
    assert init == {"type": "connection_init", "payload": {"authorization": f"Bearer {admin.token}"}}
    assert '"recordType": "Customer"' in await page.locator(RESULT).inner_text()
    visit.assert_stayed_home()


async def test_the_page_allows_scripts_from_its_own_origin_only(client: httpx.AsyncClient):
    # when a browser asks for /graphql
    response = await client.get("/graphql", headers={"accept": "text/html"})
    # then the page names only its own assets, under a policy that allows nothing else
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert "script-src" not in policy and "style-src" not in policy and "unsafe" not in str(policy)
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sorted(s.removeprefix("graphql/assets/") for s in sources if not s.startswith("data:")) == PAGE_ASSETS
    for asset in PAGE_ASSETS:
        assert (await client.get(f"/graphql/assets/{asset}")).status_code == 200


def test_the_vendored_assets_are_the_files_their_note_names():
    # given the note the vendoring script wrote
    note = (ASSETS / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\S+) \| (\S+) \| (\S+) \| `([0-9a-f]{64})` \|$", note, re.MULTILINE)
    # then every file in the folder is either named there, with its hash, or one of Tandem's own
    assert {name for name, *_ in rows} | OWN_FILES == {p.name for p in ASSETS.iterdir()}
    for name, package, _version, license_, sha256 in rows:
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == sha256, f"{name} differs from {package}'s"
        assert license_ == "MIT"
