"""The web console in Debian's Chromium against the whole stack as processes with real sandboxed agents: an
operator uploads a package, makes a group of two servers, deploys to it and watches both nodes succeed without
reloading; a failing package shows its log; pause and resume; English one click away; a viewer sees no write
buttons. Screenshots of the main pages in both languages are written to test-artifacts/console/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support.agents import Fleet
from tests.support.browser import ConsolePage, build_console, chromium
from tests.support.e2e_stack import ADMIN_PASSWORD, E2EStack, create_deployment, ok, upload, wait_state
from tests.support.sandbox import build_scripted_deb

E2E_HOSTS = 3
SOFTWARE = "web-console"
GROUP = "console-web"
# A rollout through real agents: download, dpkg in a sandbox root, report.
DEPLOY_MS = 120_000

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module", autouse=True)
def console_dist() -> Path:
    """Built before the stack starts: the gateway serves the console only if a build exists then."""
    return build_console()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def admin(browser: Browser, fleet: Fleet) -> Iterator[ConsolePage]:
    with ConsolePage.open(browser, fleet.stack.url) as console:
        console.login("admin", ADMIN_PASSWORD)
        yield console
        console.assert_no_errors()


def choose(page: Page, select: str, text: str, *, search: bool = False) -> None:
    """Picks the option showing `text` in the Element Plus select `[data-test=select]`; with `search`, types
    `text` first (filterable and remote selects)."""
    page.locator(f"[data-test={select}]").first.click()
    if search:
        text_field(page, select).fill(text)
    page.locator(".el-select-dropdown__item:visible", has_text=text).first.click()


def text_field(page: Page, name: str) -> Locator:
    """The text box `[data-test=name]`: Element Plus puts the attribute on the native input or its wrapper."""
    return page.locator(
        f"input[data-test={name}], textarea[data-test={name}], [data-test={name}] input"
    ).first


def target_row(page: Page, hostname: str) -> Locator:
    return page.locator(f"[data-test=target-row][data-host='{hostname}']")


def group_id(fleet: Fleet, name: str) -> str:
    groups = ok(fleet.client.get("/api/v1/groups", params={"page_size": 200}))["items"]
    return next(group["id"] for group in groups if group["name"] == name)


def test_an_operator_uploads_groups_deploys_and_watches_both_nodes_succeed_live(
    admin: ConsolePage, fleet: Fleet
) -> None:
    page = admin.page
    deb = build_scripted_deb(fleet.workdir, SOFTWARE, "1.0-1")

    # Upload: the parsed name and version are shown.
    admin.goto("/packages")
    page.locator("[data-test=packages-upload]").click()
    page.locator("[data-test=upload-file] input[type=file]").set_input_files(deb)
    page.locator("[data-test=upload-start]").click()
    result = page.locator("[data-test=upload-result]")
    expect(result).to_contain_text(SOFTWARE)
    expect(result).to_contain_text("1.0-1")
    page.keyboard.press("Escape")

    # A group with the two deb servers.
    admin.goto("/groups")
    page.locator("[data-test=groups-create]").click()
    text_field(page, "group-name").fill(GROUP)
    page.locator("[data-test=group-save]").click()
    row = page.locator(f"[data-test=group-row][data-name='{GROUP}']")
    expect(row).to_have_count(1)
    row.locator("[data-test=group-members]").click()
    dialog = page.locator("[data-test=members-dialog]")
    for host in fleet.debs:
        choose(page, "members-search", host.hostname, search=True)
    dialog.locator("[data-test=members-add]").click()
    expect(dialog.locator("[data-test=member-row]")).to_have_count(2)
    for host in fleet.debs:
        expect(dialog.locator(f"[data-test=member-row][data-host='{host.hostname}']")).to_have_count(1)
    page.keyboard.press("Escape")

    # Deploy to the group from the form; the preview names both nodes.
    admin.goto("/deployments")
    page.locator("[data-test=deployments-create]").click()
    page.wait_for_url(re.compile(r".*/deployments/new$"))
    choose(page, "deploy-package", SOFTWARE, search=True)
    # Its only version is picked by itself.
    expect(page.locator("[data-test=deploy-version]")).to_contain_text("1.0-1")
    page.locator("[data-test=target-kind-group]").click()
    choose(page, "deploy-group", GROUP, search=True)
    preview = page.locator("[data-test=deploy-preview]")
    for host in fleet.debs:
        expect(preview).to_contain_text(host.hostname)
    page.locator("[data-test=deploy-submit]").click()
    page.wait_for_url(re.compile(r".*/deployments/[0-9a-f-]{36}$"))

    # Both nodes reach succeeded on this very page: the marker set now survives only if it never reloads.
    page.evaluate("window.convoyNoReload = true")
    for host in fleet.debs:
        expect(target_row(page, host.hostname)).to_have_attribute(
            "data-state", "succeeded", timeout=DEPLOY_MS
        )
    expect(page.locator("[data-test=deployment-state]")).to_have_attribute("data-state", "succeeded")
    assert page.evaluate("window.convoyNoReload") is True, "the page reloaded"
    for host in fleet.debs:
        assert host.dpkg_query(SOFTWARE) == ("1.0-1", "ii ")
    admin.screenshot("deployment-zh-CN")


def test_a_failing_package_shows_failed_with_its_log(admin: ConsolePage, fleet: Fleet) -> None:
    package = upload(
        fleet.client, build_scripted_deb(fleet.workdir, "broken-console", "1.0-1", always_fail=True)
    )
    host = fleet.debs[0]
    deployment = create_deployment(
        fleet.client, package_id=package["id"], action="install", target={"server_id": host.node_id}
    )
    page = admin.page
    admin.goto(f"/deployments/{deployment['id']}")
    row = target_row(page, host.hostname)
    expect(row).to_have_attribute("data-state", "failed", timeout=DEPLOY_MS)
    expect(page.locator("[data-test=deployment-state]")).to_have_attribute("data-state", "failed")
    row.locator("[data-test=target-log]").click()
    expect(page.locator("[data-test=target-log-text]")).to_contain_text("postinst fails on purpose")
    admin.screenshot("deployment-failed-log-zh-CN")


def test_pause_and_resume_a_rollout_between_batches(admin: ConsolePage, fleet: Fleet) -> None:
    package = upload(fleet.client, build_scripted_deb(fleet.workdir, SOFTWARE, "1.1-1"))
    deployment = create_deployment(
        fleet.client,
        package_id=package["id"],
        action="update",
        target={"group_id": group_id(fleet, GROUP)},
        strategy={"batch_size": 1, "pause_between_batches_seconds": 30},
    )
    page = admin.page
    admin.goto(f"/deployments/{deployment['id']}")
    state = page.locator("[data-test=deployment-state]")
    first, second = (target_row(page, host.hostname) for host in fleet.debs)
    # The first batch goes; while the rollout waits before the second, the operator pauses it.
    expect(page.locator("[data-test=target-row][data-state=succeeded]")).to_have_count(1, timeout=DEPLOY_MS)
    page.locator("[data-test=deployment-pause]").click()
    prompt = page.locator(".el-message-box:visible")
    prompt.locator("input").fill("checking the first node")
    prompt.locator(".el-message-box__btns .el-button--primary").click()
    expect(state).to_have_attribute("data-state", "paused")
    expect(page.locator("[data-test=deployment-reason]")).to_contain_text("checking the first node")
    expect(second).not_to_have_attribute("data-state", "succeeded")
    # The controls that apply to a paused rollout, and only those, are enabled.
    expect(page.locator("[data-test=deployment-pause]")).to_be_disabled()
    expect(page.locator("[data-test=deployment-resume]")).to_be_enabled()
    page.locator("[data-test=deployment-resume]").click()
    for row in (first, second):
        expect(row).to_have_attribute("data-state", "succeeded", timeout=DEPLOY_MS)
    expect(state).to_have_attribute("data-state", "succeeded")
    assert wait_state(fleet.client, deployment["id"], ("succeeded",))["state"] == "succeeded"


def test_english_is_one_click_away_and_remembered(admin: ConsolePage) -> None:
    page = admin.page
    admin.goto("/deployments")
    expect(page.locator(".el-menu")).to_contain_text("部署任务")
    page.locator("[data-test=language]").click()
    page.locator(".el-dropdown-menu__item:visible", has_text="English").click()
    expect(page.locator(".el-menu")).to_contain_text("Deployments")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.locator(".el-menu")).to_contain_text("Deployments")


WRITE_BUTTONS = {
    "/servers": ["servers-add"],
    "/groups": ["groups-create", "group-edit", "group-delete"],
    "/packages": ["packages-upload"],
    "/deployments": ["deployments-create"],
    "/policies": ["policies-create"],
}


def test_a_viewer_sees_no_write_buttons_and_the_server_refuses_anyway(
    browser: Browser, admin: ConsolePage, fleet: Fleet
) -> None:
    viewer = {"username": "console-viewer", "password": "viewer-password-1", "role": "viewer"}
    ok(fleet.client.post("/api/v1/users", json={**viewer, "display_name": "Viewer"}), 201)
    # The admin sees the buttons the viewer must not.
    for path, buttons in WRITE_BUTTONS.items():
        admin.goto(path)
        expect(admin.page.locator(f"[data-test={buttons[0]}]").first).to_be_visible()
    deployments = ok(fleet.client.get("/api/v1/deployments"))["items"]
    with ConsolePage.open(browser, fleet.stack.url) as console:
        console.login(viewer["username"], viewer["password"])
        page = console.page
        expect(page.locator(".el-menu")).not_to_contain_text("用户")
        for path, buttons in WRITE_BUTTONS.items():
            console.goto(path)
            expect(page.locator(".el-main")).to_be_visible()
            console.settle()
            for button in buttons:
                expect(page.locator(f"[data-test={button}]")).to_have_count(0)
        console.goto(f"/deployments/{deployments[0]['id']}")
        expect(page.locator("[data-test=deployment-state]")).to_be_visible()
        for control in ("pause", "resume", "cancel", "retry", "approve"):
            expect(page.locator(f"[data-test=deployment-{control}]")).to_have_count(0)
        console.assert_no_errors()
    credentials = {"username": viewer["username"], "password": viewer["password"]}
    login = fleet.client.post("/api/v1/auth/login", json=credentials)
    token = ok(login)["access_token"]
    refused = fleet.client.post(
        "/api/v1/groups", json={"name": "viewer-group"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403, refused.text


PAGES = ["overview", "servers", "groups", "packages", "deployments", "policies", "users", "audit"]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_screenshots_of_the_main_pages(browser: Browser, fleet: Fleet, locale: str) -> None:
    stack: E2EStack = fleet.stack
    with ConsolePage.open(browser, stack.url, locale=locale) as console:
        console.login("admin", ADMIN_PASSWORD)
        for name in PAGES:
            console.goto(f"/{name}")
            expect(console.page.locator(".el-main")).to_be_visible()
            console.screenshot(f"{name}-{locale}")
        deployments = ok(fleet.client.get("/api/v1/deployments"))["items"]
        console.goto(f"/deployments/{deployments[-1]['id']}")
        expect(console.page.locator("[data-test=deployment-state]")).to_be_visible()
        console.screenshot(f"deployment-detail-{locale}")
        console.assert_no_errors()
