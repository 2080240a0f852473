//! The simulated interview engine, driven through the API, the sandbox and a manual clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use public_api::clock::{Clock, ManualClock};
use public_api::domain::audit::AuditContext;
use public_api::interview::OutcomeWeights;
use serde_json::{Value, json};

use crate::support::{TestApp, application};

fn only(outcome: &str) -> OutcomeWeights {
    OutcomeWeights::parse(&format!("{outcome}=1")).unwrap()
}

async fn outbox_types(app: &TestApp, application_id: &str) -> Vec<String> {
    let store = app.server.store();
    let org = store.list_organizations().await.unwrap()[0].id.clone();
    store
        .list_outbox(&org, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.application_id.as_deref() == Some(application_id))
        .map(|(_, e)| e.event_type)
        .collect()
}

/// The acceptance check: with no delay, results exist moments after the application.
#[tokio::test]
async fn with_zero_delay_results_follow_the_application() {
    let app = TestApp::start_with(|c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.outcomes = only("completed");
    })
    .await;
    let job = app.job("REQ-1").await;
    let started = Instant::now();
    let id = app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
    let results = loop {
        let r = app.get(&format!("/v1/applications/{id}/results")).await;
        if r.status == 200 {
            break r.json;
        }
        r.expect_problem(404, "results_not_ready");
        assert!(started.elapsed() < Duration::from_secs(10), "no results after 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!("results after {:?}", started.elapsed());
    assert_eq!(results["status"], "completed");
    assert_eq!(results["result"]["outcome"], "completed");
    let history: Vec<Value> = app.get(&format!("/v1/applications/{id}")).await.expect(200)["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].clone())
        .collect();
    assert_eq!(history, ["pending", "calling", "in_progress", "completed"]);
    let types = outbox_types(&app, &id).await;
    assert_eq!(types.iter().filter(|t| *t == "interview.completed").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| *t == "interview.failed").count(), 0);
}

async fn status(app: &TestApp, id: &str) -> String {
    app.get(&format!("/v1/applications/{id}")).await.json["status"].as_str().unwrap().to_owned()
}

async fn manual(outcome: &str) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let outcomes = only(outcome);
    let app = TestApp::start_with_clock(clock.clone(), move |c| {
        c.interview.delay = SignedDuration::ZERO;
        c.interview.retry_delay = SignedDuration::from_hours(1);
        c.interview.max_attempts = 3;
        c.interview.outcomes = outcomes;
        c.interview.background = false;
    })
    .await;
    (app, clock)
}

#[tokio::test]
async fn unanswered_calls_are_retried_until_attempts_run_out() {
    let (app, clock) = manual("no_answer").await;
    let engine = Arc::clone(&app.server.state().engine);
    let job = app.job("REQ-1").await;
    let id = app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();

    assert_eq!(engine.run_due().await.unwrap(), 1);
    assert_eq!(status(&app, &id).await, "no_answer");
    clock.advance(SignedDuration::from_mins(59));
    assert_eq!(engine.run_due().await.unwrap(), 0, "not due before the retry delay");
    clock.advance(SignedDuration::from_mins(1));
    assert_eq!(engine.run_due().await.unwrap(), 1);
    assert_eq!(status(&app, &id).await, "no_answer");
    clock.advance(SignedDuration::from_hours(1));
    assert_eq!(engine.run_due().await.unwrap(), 1);
    assert_eq!(status(&app, &id).await, "failed");
    clock.advance(SignedDuration::from_hours(5));
    assert_eq!(engine.run_due().await.unwrap(), 0, "a finished interview is not run again");

    let results = app.get(&format!("/v1/applications/{id}/results")).await;
    let failure = &results.expect(200)["result"];
    assert_eq!(failure["outcome"], "failed");
    assert_eq!(failure["reason"], "max_attempts");
    assert_eq!(failure["call"]["attempts"], 3);
    assert_eq!(failure["call"]["outcomes"], json!(["no_answer", "no_answer", "no_answer"]));
    let types = outbox_types(&app, &id).await;
    assert_eq!(
        types,
        [
            "application.status_changed", // calling
            "application.status_changed", // no_answer
            "application.status_changed", // calling
            "application.status_changed", // no_answer
            "application.status_changed", // calling
            "application.status_changed", // failed
            "interview.failed",
        ]
    );
}

#[tokio::test]
async fn cancelling_stops_the_interview() {
    let (app, _clock) = manual("completed").await;
    let engine = Arc::clone(&app.server.state().engine);
    let job = app.job("REQ-1").await;
    let id = app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/applications/{id}/cancel"), json!({})).await.expect(200);
    assert_eq!(engine.run_due().await.unwrap(), 0);
    app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({}))
        .await
        .expect_problem(409, "application_final");
    app.get(&format!("/v1/applications/{id}/results")).await.expect_problem(404, "results_not_ready");
    assert_eq!(outbox_types(&app, &id).await, ["application.status_changed"]);
}

#[tokio::test]
async fn a_restarted_server_resumes_scheduled_and_abandoned_interviews() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap()));
    let settings = |c: &mut public_api::server::ServeConfig| {
        c.interview.delay = SignedDuration::from_hours(1);
        c.interview.outcomes = only("completed");
        c.interview.background = false;
    };
    let app = TestApp::start_with_clock(clock.clone(), settings).await;
    let job = app.job("REQ-1").await;
    let scheduled =
        app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
    let abandoned =
        app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned();
    // Another (now dead) process claimed the second interview and never finished it.
    {
        let store = app.server.store();
        let org = store.list_organizations().await.unwrap()[0].id.clone();
        let later = clock.now().checked_add(SignedDuration::from_hours(10)).unwrap();
        assert!(
            store
                .claim_interview(&org, &abandoned, "dead-process", clock.now(), later, AuditContext::system())
                .await
                .unwrap()
                .is_some()
        );
    }

    let TestApp { server, dir, key, client, .. } = app;
    server.shutdown().await.unwrap();
    let mut config = crate::support::config(&dir);
    settings(&mut config);
    let server = public_api::server::Server::start(config, clock.clone()).await.unwrap();
    let app = TestApp { base: format!("http://{}", server.local_addr()), server, key, client, dir };

    let engine = Arc::clone(&app.server.state().engine);
    assert_eq!(engine.run_due().await.unwrap(), 0, "nothing is due yet");
    clock.advance(SignedDuration::from_hours(1));
    if app.dir.is_postgres() {
        // On a shared database the lease may be a live replica's: the restart leaves it, and
        // the interview runs once it has expired.
        assert_eq!(engine.run_due().await.unwrap(), 1);
        clock.advance(SignedDuration::from_hours(9));
        assert_eq!(engine.run_due().await.unwrap(), 1, "the expired lease is claimed again");
    } else {
        // The dead process's lease ran for 10 h; the restart dropped it, so both run now.
        assert_eq!(engine.run_due().await.unwrap(), 2);
    }
    for id in [scheduled, abandoned] {
        app.get(&format!("/v1/applications/{id}/results")).await.expect(200);
    }
}

#[tokio::test]
async fn the_sandbox_forces_any_outcome() {
    let (app, _clock) = manual("completed").await;
    let job = app
        .post(
            "/v1/jobs",
            json!({"title": "Driver", "screening_questions": [{"question": "Weekends?", "weight": 3}, {"question": "Licence?"}]}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_app = || async {
        app.post("/v1/applications", application(&job)).await.expect(201)["id"].as_str().unwrap().to_owned()
    };

    let id = new_app().await;
    let r = app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({"score": 87})).await;
    assert_eq!(r.expect(200)["status"], "completed");
    let results = app.get(&format!("/v1/applications/{id}/results")).await.expect(200)["result"].clone();
    assert_eq!(results["score"], 87);
    assert!(results["question_grades"].as_array().unwrap().iter().all(|g| g["grade"] == 87));

    for (outcome, reason) in
        [("invalid_number", "invalid_number"), ("hung_up", "hung_up"), ("not_interested", "not_interested")]
    {
        let id = new_app().await;
        let r = app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({"outcome": outcome})).await;
        assert_eq!(r.expect(200)["status"], "failed");
        let results = app.get(&format!("/v1/applications/{id}/results")).await.expect(200)["result"].clone();
        assert_eq!(results["reason"], reason);
    }

    let id = new_app().await;
    for expected in ["voicemail", "no_answer", "failed"] {
        let outcome = if expected == "voicemail" { "voicemail" } else { "no_answer" };
        let r = app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({"outcome": outcome})).await;
        assert_eq!(r.expect(200)["status"], expected);
    }

    let id = new_app().await;
    app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({"score": 101}))
        .await
        .expect_problem(422, "validation_failed");
    app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({"outcome": "no_answer", "score": 5}))
        .await
        .expect_problem(422, "validation_failed");
    app.post(&format!("/v1/sandbox/applications/{id}/complete"), json!({"outcome": "exploded"}))
        .await
        .expect_problem(422, "validation_failed");
    app.post("/v1/sandbox/applications/app_00000000000000000000000000000000/complete", json!({}))
        .await
        .expect_problem(404, "application_not_found");
    let other = app.other_org().await;
    app.post_as(&other, &format!("/v1/sandbox/applications/{id}/complete"), json!({}))
        .await
        .expect_problem(404, "application_not_found");
    app.get_as(&other, &format!("/v1/applications/{id}/results")).await.expect_problem(404, "application_not_found");
}
