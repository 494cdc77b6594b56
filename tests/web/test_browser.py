"""End to end in headless Chromium (Playwright) against a real gunicorn on 127.0.0.1, CSRF on."""
import csv
import io
import os
from pathlib import Path

import openpyxl
import pytest

from tests import factories
from tests.conftest import sign_in_page
from tests.factories import xlsx_bytes

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing; install it with apt-get install -y chromium")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request, live_server):
    """A page signed in to the live server, whose script errors and console errors fail the test
    (network 4xx logs aside, where a test provokes them on purpose)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900},
                                  java_script_enabled=getattr(request, "param", True))
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.set_default_timeout(30_000)
    sign_in_page(page, live_server)
    yield page
    context.close()
    expected = request.node.get_closest_marker("expect_http_errors") is not None
    assert [p for p in problems if not (expected and p.startswith("Failed to load resource"))] == []


def submit_a_file_without_the_contract(page, base, tmp_path):
    """Upload a file whose columns are wrong; wait for the form to show the error."""
    bad = tmp_path / "wrong.csv"
    bad.write_text("Loan_ID,Colour\nA,red\n")
    page.goto(base + "/")
    page.set_input_files("#file", str(bad))
    page.click("#submit")
    alert = page.locator("#form-error")
    alert.wait_for(state="visible")
    return alert


def upload_and_wait(page, base, path):
    page.goto(base + "/")
    page.set_input_files("#file", str(path))
    page.click("#submit")
    page.wait_for_url("**/results/**")


def stat(page, name):
    return page.locator(f".stats div:has(dt:text-is('{name}')) dd").inner_text()


def test_real_test_file_end_to_end(page, live_server, shared_data, tmp_path):
    upload_and_wait(page, live_server, shared_data / "loan_test.csv")
    assert page.title().startswith("Results for loan_test.csv")
    assert stat(page, "Rows") == "367" and stat(page, "Scored") == "367" and stat(page, "Failed") == "0"
    assert page.locator("table.preview tbody tr").count() == 50
    fair_lending = page.locator("#fair-lending")
    assert fair_lending.is_visible()
    for attribute in ("Gender", "Married", "Dependents", "Education", "Self Employed", "Property Area"):
        assert fair_lending.locator(f"h3:text-is('{attribute}')").count() == 1
    assert fair_lending.locator("svg.chart").count() == 6
    # Explanations are on by default: the decline-reasons chart, and each declined row's reasons.
    assert page.locator("#decline-reasons svg.chart").is_visible()
    declined = page.locator("table.preview tbody tr:has(.pill-N)")
    assert declined.count() > 0
    for i in range(declined.count()):
        reasons = declined.nth(i).locator("ol.reasons li")
        assert 1 <= reasons.count() <= 4
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Download CSV")
    assert download.value.suggested_filename == "loan_test-predictions.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    with open(shared_data / "loan_test.csv", newline="") as source:
        ids = [r["Loan_ID"] for r in csv.DictReader(source)]
    assert [r["Loan_ID"] for r in rows] == ids and all(r["Loan_Status"] in ("Y", "N") for r in rows)
    assert all(bool(r["Reason_1"]) == (r["Loan_Status"] == "N") for r in rows)


def test_a_disparity_is_flagged_in_plain_words(page, live_server, tmp_path):
    path = tmp_path / "skewed.csv"
    factories.disparate_applications().to_csv(path, index=False)
    upload_and_wait(page, live_server, path)
    warning = page.locator("#fair-lending .alert-warning")
    assert warning.is_visible() and "Review needed" in warning.inner_text() and "Gender" in warning.inner_text()
    assert "Below four-fifths" in page.locator("#fair-lending .parity-flagged").first.inner_text()
    assert "too small to judge" in page.locator("#fair-lending").inner_text()


def test_a_labelled_file_shows_how_the_model_did_and_drift(page, live_server, shared_data):
    upload_and_wait(page, live_server, shared_data / "loan_train.csv")
    evaluation = page.locator("#evaluation")
    assert "How the model did on this file" in evaluation.inner_text()
    assert evaluation.locator("table.confusion").is_visible() and evaluation.locator("svg.chart").is_visible()
    assert "614 scored rows are labelled" in evaluation.inner_text()
    drift = page.locator("#drift")
    assert "Population Stability Index" in drift.inner_text() and drift.locator("table").first.is_visible()


def test_a_shifted_population_is_warned_about(page, live_server, tmp_path):
    path = tmp_path / "shifted.csv"
    frame = factories.applications(200, seed=8)
    frame["ApplicantIncome"] *= 10
    frame.to_csv(path, index=False)
    upload_and_wait(page, live_server, path)
    warning = page.locator("#drift .alert-warning")
    assert warning.is_visible() and "ApplicantIncome" in warning.inner_text()
    assert page.locator("#drift svg.chart").count() >= 1


def test_excel_upload_and_excel_download(page, live_server, tmp_path):
    path = tmp_path / "applications.xlsx"
    frame = factories.applications(40, seed=11)
    path.write_bytes(xlsx_bytes(frame))
    upload_and_wait(page, live_server, path)
    assert stat(page, "Rows") == "40"
    with page.expect_download() as download:
        page.click("text=Download Excel")
    assert download.value.suggested_filename == "applications-predictions.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == frame["Loan_ID"].tolist()


@pytest.mark.expect_http_errors
def test_a_bad_file_shows_its_message_and_the_form_still_works(page, live_server, tmp_path):
    alert = submit_a_file_without_the_contract(page, live_server, tmp_path)
    assert alert.inner_text().startswith("Missing columns: Education, Self_Employed")
    good = tmp_path / "good.csv"
    factories.applications(5).to_csv(good, index=False)
    page.set_input_files("#file", str(good))
    page.click("#submit")
    page.wait_for_url("**/results/**")
    assert stat(page, "Rows") == "5"


def test_drag_and_drop(page, live_server):
    page.goto(live_server + "/")
    content = factories.applications(3).to_csv(index=False)
    page.evaluate("""(content) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([content], "dropped.csv", {type: "text/csv"}));
        document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", content)
    assert page.locator("#chosen-file").inner_text().startswith("dropped.csv")
    page.click("#submit")
    page.wait_for_url("**/results/**")
    assert page.locator("h1").inner_text() == "dropped.csv"


@pytest.mark.parametrize("page", [False], indirect=True, ids=["no-javascript"])
def test_the_form_works_without_javascript(page, live_server, tmp_path):
    path = tmp_path / "plain.csv"
    factories.applications(4).to_csv(path, index=False)
    upload_and_wait(page, live_server, path)
    assert stat(page, "Rows") == "4"


def test_keyboard_reaches_the_file_picker_and_the_button(page, live_server):
    page.goto(live_server + "/")
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert "file" in focused and "submit" in focused


def test_readable_on_a_phone(browser, live_server, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(live_server + "/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.screenshot(path=str(tmp_path / "phone.png"))
    context.close()
    assert overflow <= 0


def test_the_notices_button_downloads_the_ecoa_notices(page, live_server, tmp_path):
    import subprocess

    frame = factories.applications(80, seed=3)
    frame["Applicant_Name"] = [f"Applicant Number {i}" for i in range(len(frame))]
    path = tmp_path / "named.csv"
    frame.to_csv(path, index=False)
    upload_and_wait(page, live_server, path)
    with page.expect_download() as download:
        page.click("text=Notices (PDF)")
    assert download.value.suggested_filename.endswith(".pdf")
    text = subprocess.run(["pdftotext", "-layout", download.value.path(), "-"], check=True,
                          capture_output=True).stdout.decode()
    assert "Federal Equal Credit Opportunity Act prohibits creditors" in " ".join(text.split())
    assert "Applicant Number" in text  # addressed from the file, while the result lives


def test_the_preview_fits_its_card_or_scrolls_visibly(page, live_server, tmp_path):
    path = tmp_path / "wide.csv"
    factories.applications(30, seed=4).to_csv(path, index=False)
    upload_and_wait(page, live_server, path)
    wrap = page.locator(".table-wrap:has(table.preview)")
    assert wrap.get_attribute("tabindex") == "0" and wrap.get_attribute("aria-label")
    sizes = wrap.evaluate("e => ({scroll: e.scrollWidth, client: e.clientWidth, overflow: getComputedStyle(e).overflowX,"
                          " card: e.closest('.card').getBoundingClientRect().right, right: e.getBoundingClientRect().right})")
    assert sizes["right"] <= sizes["card"]  # the container stays inside its card
    assert sizes["scroll"] <= sizes["client"] or sizes["overflow"] in ("auto", "scroll")
    assert page.locator("table.preview th:text-is('Action')").count() == 1
    assert page.locator("table.preview tbody [class*='pill-action-']").count() == 30


def test_sign_in_score_a_file_and_sign_out(browser, live_server, tmp_path):
    """The whole visit of a person: the sign-in form, a scored file, the sign-out button; then the
    pages are closed to that browser again."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.set_default_timeout(30_000)
    page.goto(live_server + "/")
    page.wait_for_url("**/login**")  # signed out: the form first
    sign_in_page(page, live_server)
    applicants = tmp_path / "applicants.csv"
    factories.applications(12, seed=7).to_csv(applicants, index=False)
    upload_and_wait(page, live_server, applicants)
    assert stat(page, "Rows") == "12" and stat(page, "Scored") == "12"
    results = page.url
    page.click("button:text-is('Sign out')")
    page.wait_for_url("**/login**")
    for address in (live_server + "/", results):
        page.goto(address)
        assert "/login" in page.url.split("?")[0], address
    context.close()
    assert problems == []


def test_a_large_upload_becomes_a_job_shows_its_progress_then_the_results(page, live_server, tmp_path):
    import re
    import time

    from tests.conftest import start_worker, stop

    rows = 460_000  # about 30 MB
    path = tmp_path / "large.csv"
    factories.applications(rows, seed=8).to_csv(path, index=False)
    assert path.stat().st_size > 20 * 1024 * 1024  # over JOB_THRESHOLD_BYTES' default: a job
    worker, log = start_worker(live_server.env, tmp_path / "worker.log")
    try:
        page.goto(live_server + "/")
        page.set_input_files("#file", str(path))
        page.click("#submit")
        page.wait_for_url("**/jobs/**", timeout=120_000)
        seen = []
        deadline = time.monotonic() + 240
        while "/results/" not in page.url and time.monotonic() < deadline:
            try:
                seen.append(page.locator("#job-text").inner_text(timeout=1_000))
            except Exception:  # noqa: BLE001, S110 - the page is navigating to the results
                pass
            time.sleep(0.1)
        page.wait_for_url("**/results/**", timeout=5_000)
    finally:
        stop(worker, log)
    assert any(re.search(rf"of {rows:,} rows", text) for text in seen), seen
    assert stat(page, "Rows") == f"{rows:,}" and stat(page, "Scored") == f"{rows:,}"
