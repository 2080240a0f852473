use std::collections::HashSet;

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn create_read_update_close_a_job() {
    let app = TestApp::start().await;
    let created = app
        .post(
            "/v1/jobs",
            json!({
                "external_id": "REQ-1",
                "title": "  Delivery Driver ",
                "description": "Vans.\nWeekends.",
                "location": "Bristol",
                "interview_type": "phone",
                "requirements": [{"text": "Licence", "importance": "required"}],
                "screening_questions": [{"question": "Weekends?", "weight": 3}],
                "metadata": {"team": "logistics"}
            }),
        )
        .await;
    let job = created.expect(201).clone();
    assert_eq!(job["title"], "Delivery Driver", "text is trimmed");
    assert_eq!(job["status"], "open");
    assert_eq!(job["screening_questions"][0]["weight"], 3);
    let id = job["id"].as_str().unwrap();
    assert!(id.starts_with("job_"));

    assert_eq!(app.get(&format!("/v1/jobs/{id}")).await.expect(200), &job);

    let patched = app.patch(&format!("/v1/jobs/{id}"), json!({"title": "Senior Driver", "location": null})).await;
    let patched = patched.expect(200);
    assert_eq!(patched["title"], "Senior Driver");
    assert_eq!(patched["location"], serde_json::Value::Null);
    assert_eq!(patched["description"], "Vans.\nWeekends.", "fields left out stay");
    assert_ne!(patched["updated_at"], job["updated_at"]);

    let closed = app.post(&format!("/v1/jobs/{id}/close"), json!({})).await;
    assert_eq!(closed.expect(200)["status"], "closed");
    assert_eq!(app.get(&format!("/v1/jobs/{id}")).await.expect(200)["status"], "closed");
}

#[tokio::test]
async fn upsert_by_external_id_keeps_the_id() {
    let app = TestApp::start().await;
    let first = app.post("/v1/jobs", json!({"external_id": "REQ-7", "title": "A"})).await;
    let first = first.expect(201).clone();
    let again = app.post("/v1/jobs", json!({"external_id": "REQ-7", "title": "A"})).await;
    assert_eq!(again.expect(200), &first, "an identical upsert changes nothing");
    let changed = app.post("/v1/jobs", json!({"external_id": "REQ-7", "title": "B"})).await;
    let changed = changed.expect(200);
    assert_eq!(changed["id"], first["id"]);
    assert_eq!(changed["title"], "B");
    assert_eq!(changed["created_at"], first["created_at"]);
    let list = app.get("/v1/jobs").await;
    assert_eq!(list.expect(200)["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn validation_names_every_bad_field() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "/v1/jobs",
            json!({
                "title": " ",
                "external_id": "has space",
                "requirements": [{"text": "", "importance": "required"}],
                "screening_questions": [{"question": "Q", "weight": 11}],
                "metadata": {"bad key!": "x"}
            }),
        )
        .await;
    let body = r.expect_problem(422, "validation_failed");
    let fields: HashSet<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in ["title", "external_id", "requirements[0].text", "screening_questions[0].weight", "metadata.bad key!"] {
        assert!(fields.contains(f), "{f} missing from {fields:?}");
    }
}

#[tokio::test]
async fn list_filters_by_status_and_update_time() {
    let app = TestApp::start().await;
    let a = app.job("A").await;
    let _b = app.job("B").await;
    app.post(&format!("/v1/jobs/{a}/close"), json!({})).await.expect(200);
    let closed = app.get("/v1/jobs?status=closed").await;
    let closed = closed.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["id"], a.as_str());
    let after = closed[0]["updated_at"].as_str().unwrap().to_owned();
    let none = app.get(&format!("/v1/jobs?updated_after={after}")).await;
    assert_eq!(none.expect(200)["data"].as_array().unwrap().len(), 0);
    // An empty parameter is not a way to leave it out: each one is named.
    let empty = app.get("/v1/jobs?cursor=&status=&updated_after=&limit=").await;
    let fields: Vec<String> = empty.expect_problem(400, "invalid_query")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["limit", "cursor", "updated_after", "status"]);
    app.get("/v1/jobs?updated_after=2026-01-31%2009:00:00Z").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?updated_after=2026-01-31T09:00Z").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?updated_after=2026-01-31T09:00:00%2B24:00").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?updated_after=2026-01-31t09:00:00.123456789z").await.expect(200);
    app.get("/v1/jobs?cursor=cur_fffffffffffffff").await.expect(200);
    app.get("/v1/jobs?status=archived").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?updated_after=yesterday").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?cursor=nonsense").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?limit=0").await.expect_problem(400, "invalid_query");
    app.get("/v1/jobs?limit=101").await.expect_problem(400, "invalid_query");
}

/// Walks 1,000 jobs page by page while another task keeps updating them: every job is seen
/// exactly once, because pages follow creation order, which updates do not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_sees_every_job_once_while_jobs_change() {
    let app = TestApp::start().await;
    let store = app.server.store();
    let org = store.list_organizations().await.unwrap()[0].id.clone();
    let mut ids = Vec::new();
    for i in 0..1000 {
        let fields = public_api::api::jobs::CreateJobRequest {
            external_id: Some(format!("R{i}")),
            title: format!("Job {i}"),
            description: String::new(),
            location: None,
            interview_type: Default::default(),
            status: Default::default(),
            requirements: vec![],
            screening_questions: vec![],
            metadata: Default::default(),
        }
        .validate()
        .unwrap();
        let (job, _) = store.upsert_job(&org, fields, jiff::Timestamp::now()).await.unwrap();
        ids.push(job.id);
    }

    let updater = {
        let (client, base, key, ids) = (app.client.clone(), app.base.clone(), app.key.clone(), ids.clone());
        tokio::spawn(async move {
            for (n, id) in ids.iter().rev().step_by(7).enumerate() {
                let r = client
                    .patch(format!("{base}/v1/jobs/{id}"))
                    .bearer_auth(&key)
                    .json(&json!({"title": format!("Updated {n}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
    };

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=37&cursor={c}"),
            None => "/v1/jobs?limit=37".to_owned(),
        };
        let page = app.get(&path).await;
        let page = page.expect(200);
        for job in page["data"].as_array().unwrap() {
            seen.push(job["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(page["has_more"], page["next_cursor"].is_string());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    updater.await.unwrap();
    assert_eq!(seen.len(), 1000, "no gap and no duplicate");
    assert_eq!(seen, ids, "creation order");
}
