"""The README's loop through a client generated from spec/openapi.json with openapi-python-client,
run by `cargo xtask clients` against a live server. Every 2xx answer must parse into its generated
model (results included), and one webhook of each event type into its event model.

Environment: PUBLIC_API_URL, PUBLIC_API_KEY; PYTHONPATH names the generated package's parent.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from public_api_client import AuthenticatedClient
from public_api_client.api.applications import create_application, get_application, get_results
from public_api_client.api.candidates import get_resume
from public_api_client.api.jobs import create_job, list_jobs
from public_api_client.api.sandbox import complete_interview
from public_api_client.api.webhook_deliveries import list_deliveries
from public_api_client.api.webhook_endpoints import create_endpoint, test_endpoint
from public_api_client.models import (
    Application,
    ApplicationForJobExternalId,
    ApplicationForJobId,
    ApplicationResults,
    ApplicationStatusChangedEvent,
    AttemptResult,
    CandidateInput,
    CompletedCallResults,
    CompleteWithResults,
    CreateEndpointRequest,
    CreateJobRequest,
    DeliveryList,
    EndCallWithoutResults,
    EndCallWithoutResultsOutcome,
    EndpointWithSecret,
    EventType,
    Importance,
    InterviewCompletedEvent,
    InterviewFailedEvent,
    Job,
    JobList,
    Requirement,
    Resume,
    ResumeText,
    ScreeningQuestion,
    TextResumeContent,
    TimeZone,
    WebhookTestEvent,
)


def parsed(response, model):
    """The parsed body of a 2xx answer, which must be an instance of `model`."""
    assert 200 <= response.status_code < 300, f"HTTP {response.status_code}: {response.content!r}"
    assert isinstance(response.parsed, model), f"expected {model.__name__}, parsed {response.parsed!r}"
    return response.parsed


class Receiver(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(event_type, model):
    for _ in range(200):
        for body in list(Receiver.bodies):
            if body.get("type") == event_type:
                return model.from_dict(body)
        time.sleep(0.05)
    raise AssertionError(f"no {event_type} webhook arrived")


def main():
    client = AuthenticatedClient(base_url=os.environ["PUBLIC_API_URL"], token=os.environ["PUBLIC_API_KEY"])
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hooks.server_address[1]}/hooks"
    try:
        # A webhook endpoint, a test event, and its delivery in the log.
        created = parsed(
            create_endpoint.sync_detailed(client=client, body=CreateEndpointRequest(url=url, description="Python round trip")),
            EndpointWithSecret,
        )
        assert created.secret.startswith("whsec_")
        tested = parsed(test_endpoint.sync_detailed(created.endpoint.id, client=client), AttemptResult)
        assert tested.attempt.status_code == 204
        deliveries = parsed(
            list_deliveries.sync_detailed(client=client, endpoint_id=created.endpoint.id, event_type=EventType.WEBHOOK_TEST),
            DeliveryList,
        )
        assert [d.id for d in deliveries.data] == [tested.delivery.id]

        # The README loop.
        job = parsed(
            create_job.sync_detailed(
                client=client,
                body=CreateJobRequest(
                    external_id="PY-REQ-1",
                    title="Delivery Driver",
                    description="Deliver parcels across the Bristol area.",
                    requirements=[Requirement(text="Full UK driving licence", importance=Importance.REQUIRED)],
                    screening_questions=[ScreeningQuestion(question="Can you work weekends?", weight=2)],
                ),
            ),
            Job,
        )
        application = parsed(
            create_application.sync_detailed(
                client=client,
                idempotency_key="py-roundtrip-app-1",
                body=ApplicationForJobExternalId(
                    job_external_id="PY-REQ-1",
                    external_id="PY-APP-1",
                    candidate=CandidateInput(
                        first_name="Ada", last_name="Lovelace", phone="+14155550123", timezone=TimeZone.EUROPE_LONDON
                    ),
                    resume=ResumeText(text="Ten years of van deliveries; clean licence."),
                ),
            ),
            Application,
        )
        assert application.job_id == job.id
        assert parsed(get_application.sync_detailed(application.id, client=client), Application).external_id == "PY-APP-1"
        resume = parsed(get_resume.sync_detailed(application.candidate_id, client=client), Resume)
        assert isinstance(resume.content, TextResumeContent) and "van deliveries" in resume.content.text
        parsed(
            complete_interview.sync_detailed(
                application.id, client=client, body=CompleteWithResults(outcome="completed", score=87)
            ),
            Application,
        )
        results = parsed(get_results.sync_detailed(application.id, client=client), ApplicationResults)
        assert isinstance(results.result, CompletedCallResults), results.result
        assert results.result.score == 87 and results.result.question_grades and results.result.transcript

        # A second application that fails, for interview.failed.
        failing = parsed(
            create_application.sync_detailed(
                client=client,
                body=ApplicationForJobId(
                    job_id=job.id, candidate=CandidateInput(first_name="Bob", last_name="Smith", phone="+14155550124")
                ),
            ),
            Application,
        )
        parsed(
            complete_interview.sync_detailed(
                failing.id,
                client=client,
                body=EndCallWithoutResults(outcome=EndCallWithoutResultsOutcome.INVALID_NUMBER),
            ),
            Application,
        )

        # Cursor paging over more than one page.
        for i in range(4):
            parsed(create_job.sync_detailed(client=client, body=CreateJobRequest(title=f"Paged job {i}")), Job)
        seen, cursor, pages = [], None, 0
        while True:
            kwargs = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
            page = parsed(list_jobs.sync_detailed(client=client, **kwargs), JobList)
            seen += [j.id for j in page.data]
            pages += 1
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert pages > 1 and len(seen) >= 5 and len(set(seen)) == len(seen), (pages, seen)

        # One webhook of each event type, parsed into its generated model.
        completed = wait_for("interview.completed", InterviewCompletedEvent)
        assert completed.data.results.score == 87
        failed = wait_for("interview.failed", InterviewFailedEvent)
        assert failed.data.failure.reason.value == "invalid_number"
        wait_for("application.status_changed", ApplicationStatusChangedEvent)
        wait_for("webhook.test", WebhookTestEvent)
        print(f"python client: ok ({len(seen)} jobs over {pages} pages, {len(Receiver.bodies)} webhooks parsed)")
    finally:
        hooks.shutdown()


if __name__ == "__main__":
    main()
