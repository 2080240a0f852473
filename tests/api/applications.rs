use base64::Engine as _;
use serde_json::json;

use crate::support::{TestApp, application};

#[tokio::test]
async fn an_application_creates_the_candidate_and_keeps_the_resume() {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;
    let r = app
        .post(
            "/v1/applications",
            json!({
                "job_external_id": "REQ-1",
                "external_id": "APP-1",
                "candidate": {
                    "external_id": "C-1", "first_name": "Ada", "last_name": "Lovelace",
                    "email": "ada@example.com", "phone": "+14155550123", "timezone": "America/Los_Angeles"
                },
                "resume": {"text": "Ten years of van deliveries."},
                "metadata": {"source": "careers"}
            }),
        )
        .await;
    let created = r.expect(201).clone();
    assert_eq!(created["job_id"], job.as_str());
    assert_eq!(created["job_external_id"], "REQ-1");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["status_history"][0]["status"], "pending");
    assert_eq!(created["metadata"]["source"], "careers");
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/applications/{id}")).await.expect(200), &created);

    let candidate_id = created["candidate_id"].as_str().unwrap();
    let candidate = app.get(&format!("/v1/candidates/{candidate_id}")).await;
    let candidate = candidate.expect(200);
    assert_eq!(candidate["email"], "ada@example.com");
    assert_eq!(candidate["has_resume"], true);
    let resume = app.get(&format!("/v1/candidates/{candidate_id}/resume")).await;
    let resume = resume.expect(200);
    assert_eq!(resume["content"]["kind"], "text");
    assert_eq!(resume["content"]["text"], "Ten years of van deliveries.");
}

#[tokio::test]
async fn external_ids_reuse_the_application_and_the_candidate() {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;
    let other_job = app.job("REQ-2").await;
    let mut body = application(&job);
    body["external_id"] = json!("APP-1");
    body["candidate"]["external_id"] = json!("C-1");
    let first = app.post("/v1/applications", body.clone()).await.expect(201).clone();
    let again = app.post("/v1/applications", body.clone()).await;
    assert_eq!(again.expect(200)["id"], first["id"]);

    let mut moved = body.clone();
    moved["job_id"] = json!(other_job);
    app.post("/v1/applications", moved.clone()).await.expect_problem(409, "external_id_conflict");

    // The same candidate applying to another job is reused, with updated details.
    moved["external_id"] = json!("APP-2");
    moved["candidate"]["last_name"] = json!("Byron");
    let second = app.post("/v1/applications", moved).await.expect(201).clone();
    assert_eq!(second["candidate_id"], first["candidate_id"]);
    let candidate = app.get(&format!("/v1/candidates/{}", second["candidate_id"].as_str().unwrap())).await;
    assert_eq!(candidate.expect(200)["last_name"], "Byron");
}

#[tokio::test]
async fn resume_files_round_trip() {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;
    let pdf = b"%PDF-1.4\n% resume\n";
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    let mut body = application(&job);
    body["resume"] =
        json!({"file": {"filename": "ada.pdf", "content_type": "application/pdf", "content_base64": encoded}});
    let created = app.post("/v1/applications", body).await.expect(201).clone();
    let resume = app.get(&format!("/v1/candidates/{}/resume", created["candidate_id"].as_str().unwrap())).await;
    let resume = resume.expect(200);
    assert_eq!(resume["content"]["kind"], "file");
    assert_eq!(resume["content"]["size_bytes"], pdf.len());
    assert_eq!(resume["content"]["content_base64"], encoded.as_str());
}

#[tokio::test]
async fn bad_applications_are_refused_with_reasons() {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;

    let mut no_phone = application(&job);
    no_phone["candidate"]["phone"] = serde_json::Value::Null;
    let r = app.post("/v1/applications", no_phone).await;
    assert_eq!(r.expect_problem(409, "contact_required")["errors"][0]["field"], "candidate.phone");

    let mut bad = application(&job);
    bad["candidate"]["phone"] = json!("555-0123");
    bad["candidate"]["email"] = json!("not-an-email");
    bad["candidate"]["timezone"] = json!("Mars/Olympus");
    bad["resume"] =
        json!({"file": {"filename": "a.exe", "content_type": "application/x-msdownload", "content_base64": "!!!"}});
    let r = app.post("/v1/applications", bad).await;
    let errors = r.expect_problem(422, "validation_failed")["errors"].as_array().unwrap().clone();
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in [
        "candidate.phone",
        "candidate.email",
        "candidate.timezone",
        "resume.file.content_type",
        "resume.file.content_base64",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }

    let mut both = application(&job);
    both["job_external_id"] = json!("REQ-1");
    app.post("/v1/applications", both).await.expect_problem(422, "validation_failed");

    app.post("/v1/applications", application("job_00000000000000000000000000000000"))
        .await
        .expect_problem(404, "job_not_found");
    let r = app.post("/v1/applications", application("job_NOT-AN-ID")).await;
    assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "job_id");
    let mut by_ext = application(&job);
    by_ext.as_object_mut().unwrap().remove("job_id");
    by_ext["job_external_id"] = json!("NOPE");
    app.post("/v1/applications", by_ext).await.expect_problem(404, "job_not_found");

    app.post(&format!("/v1/jobs/{job}/close"), json!({})).await.expect(200);
    app.post("/v1/applications", application(&job)).await.expect_problem(409, "job_closed");
}

#[tokio::test]
async fn video_jobs_need_an_email() {
    let app = TestApp::start().await;
    let r = app.post("/v1/jobs", json!({"title": "Analyst", "interview_type": "video"})).await;
    let job = r.expect(201)["id"].as_str().unwrap().to_owned();
    let r = app.post("/v1/applications", application(&job)).await;
    assert_eq!(r.expect_problem(409, "contact_required")["errors"][0]["field"], "candidate.email");
    let mut body = application(&job);
    body["candidate"]["email"] = json!("ada@example.com");
    app.post("/v1/applications", body).await.expect(201);
}

#[tokio::test]
async fn cancel_and_list_applications() {
    let app = TestApp::start().await;
    let job_a = app.job("A").await;
    let job_b = app.job("B").await;
    let a = app.post("/v1/applications", application(&job_a)).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.post("/v1/applications", application(&job_b)).await.expect(201);

    let cancelled = app.post(&format!("/v1/applications/{a}/cancel"), json!({})).await;
    let cancelled = cancelled.expect(200).clone();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["status_history"].as_array().unwrap().len(), 2);
    let again = app.post(&format!("/v1/applications/{a}/cancel"), json!({})).await;
    assert_eq!(again.expect(200), &cancelled, "cancelling twice changes nothing");

    let by_job = app.get(&format!("/v1/applications?job_id={job_a}")).await;
    assert_eq!(by_job.expect(200)["data"].as_array().unwrap().len(), 1);
    let pending = app.get("/v1/applications?status=pending").await;
    let pending = pending.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["job_id"], job_b.as_str());
    app.get("/v1/applications?status=done").await.expect_problem(400, "invalid_query");
    app.post("/v1/applications/app_00000000000000000000000000000000/cancel", json!({}))
        .await
        .expect_problem(404, "application_not_found");
}

#[tokio::test]
async fn a_candidate_without_resume_has_no_resume() {
    let app = TestApp::start().await;
    let job = app.job("A").await;
    let created = app.post("/v1/applications", application(&job)).await.expect(201).clone();
    let candidate = created["candidate_id"].as_str().unwrap();
    app.get(&format!("/v1/candidates/{candidate}/resume")).await.expect_problem(404, "resume_not_found");
    app.get("/v1/candidates/cand_00000000000000000000000000000000/resume")
        .await
        .expect_problem(404, "candidate_not_found");
}
