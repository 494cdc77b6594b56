"""The jobs on the pages: the "Batches" page lists the person's own jobs with their state (another
analyst's are not shown), each linking to its progress page."""
from __future__ import annotations

import re

from tests.conftest import signed_in_client
from tests.jobs.conftest import csv_bytes, upload

ROW = re.compile(r'<td class="filename">([^<]*)</td>\s*<td class="job-state">([^<]*)</td>.*?<a href="([^"]+)"', re.DOTALL)


def jobs_listed(client) -> list[dict]:
    html = client.get("/batches").get_data(as_text=True)
    if 'id="jobs-table"' not in html:
        return []
    table = html.split('id="jobs-table"', 1)[1].split("</table>", 1)[0]
    return [{"input": name, "state": state, "link": link} for name, state, link in ROW.findall(table)]


def test_the_batches_page_lists_the_persons_jobs_with_their_state(jobs_app):
    ann = signed_in_client(jobs_app, "ann@bank.example")
    bob = signed_in_client(jobs_app, "bob@bank.example")
    job = ann.post("/api/v1/jobs", data=upload(csv_bytes(20), "march.csv")).json
    assert jobs_listed(ann) == [{"input": "march", "state": "succeeded", "link": f"/jobs/{job['id']}"}]
    assert jobs_listed(bob) == []


def test_a_queued_job_is_listed_as_queued(queued_app):
    client = signed_in_client(queued_app)
    client.post("/api/v1/jobs", data=upload(csv_bytes(5), "april.csv"))
    assert [(j["input"], j["state"]) for j in jobs_listed(client)] == [("april", "queued")]
