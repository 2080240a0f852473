//! The ATS client contract: every method behaves as its row in the capability table says.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use public_api::ats::client::{ApplicationStage, CustomFieldUpdate, CustomFieldValue, NoteActionType};
use public_api::ats::{AtsClient, AtsError, AtsMethod, CandidateApplication, Provider, PublicApiClient, Support};
use public_api::clock::SystemClock;
use public_api::domain::CandidateFields;
use serde_json::{Value, json};

use crate::support::{TestApp, application, sample_results};
use crate::{snapshot, text_snapshot};

/// Arguments for any method; unsupported methods must ignore them all.
#[derive(Debug, Clone)]
struct Args {
    job_id: String,
    application_id: String,
    candidate_id: String,
    text: String,
    ids: Vec<String>,
    when: Option<jiff::Timestamp>,
    limit: u32,
}

fn json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("serialisable")
}

/// Calls `method` with `a`. The match is exhaustive: a method without a test arm does not
/// compile.
async fn call(c: &PublicApiClient, method: AtsMethod, a: &Args) -> Result<Value, AtsError> {
    use AtsMethod::*;
    let stage = ApplicationStage { id: a.text.clone(), name: a.text.clone() };
    let updates =
        vec![CustomFieldUpdate { field_id: a.text.clone(), value: Some(CustomFieldValue::Text(a.text.clone())) }];
    let t = a.text.as_str();
    Ok(match method {
        StreamJobs => json(c.stream_jobs(a.when, &[]).await?),
        StreamApplications => json(c.stream_applications(a.when, &a.ids).await?),
        StreamCandidates => json(c.stream_candidates(a.when).await?),
        MoveApplicationToStage => json(c.move_application_to_stage(&a.application_id, &stage).await?),
        GetDispositionReasons => json(c.get_disposition_reasons().await?),
        RejectApplication => json(c.reject_application(&a.application_id, t).await?),
        BulkRejectApplications => json(c.bulk_reject_applications(&a.ids, t).await?),
        CreateApplicationForCandidate => {
            let (app, _) = c
                .create_application_for_candidate(CandidateApplication {
                    job_id: a.job_id.clone(),
                    external_id: None,
                    candidate: CandidateFields {
                        external_id: None,
                        first_name: "Grace".into(),
                        last_name: "Hopper".into(),
                        email: None,
                        phone: Some("+14155550199".into()),
                        timezone: None,
                    },
                    resume: None,
                    metadata: Default::default(),
                })
                .await?;
            json(app)
        }
        GetAllApplicationStages => json(c.get_all_application_stages().await?),
        GetJobByJobId => json(c.get_job_by_job_id(&a.job_id).await?),
        GetEnhancedJob => json(c.get_enhanced_job(&a.job_id, Some(t)).await?),
        FetchEnhancedJobsBatch => json(c.fetch_enhanced_jobs_batch(a.limit, Some(t)).await?),
        GetCandidateById => json(c.get_candidate_by_id(&a.candidate_id).await?),
        FindCandidatesByDetails => json(c.find_candidates_by_details(Some(t), Some(t), Some(t), Some(t)).await?),
        GetResumeForCandidateId => json(c.get_resume_for_candidate_id(&a.candidate_id).await?),
        AddNoteToApplication => json(c.add_note_to_application(&a.application_id, t, NoteActionType::General).await?),
        AddNoteToCandidate => json(c.add_note_to_candidate(&a.candidate_id, t, NoteActionType::StageChange).await?),
        AddAttachmentToApplication => json(c.add_attachment_to_application(t, &a.application_id, t).await?),
        AddAttachmentToCandidate => json(c.add_attachment_to_candidate(t, &a.candidate_id, t).await?),
        GetJobCustomFields => json(c.get_job_custom_fields(&a.job_id).await?),
        UpdateJobCustomFields => json(c.update_job_custom_fields(&a.job_id, &updates).await?),
        GetApplicationCustomFields => json(c.get_application_custom_fields(&a.application_id).await?),
        UpdateApplicationCustomFields => json(c.update_application_custom_fields(&a.application_id, &updates).await?),
        GetCandidateCustomFields => json(c.get_candidate_custom_fields(&a.candidate_id).await?),
        UpdateCandidateCustomFields => json(c.update_candidate_custom_fields(&a.candidate_id, &updates).await?),
        PostCallResults => json(c.post_call_results(&a.application_id, sample_results()).await?),
    })
}

struct Fixture {
    app: TestApp,
    client: PublicApiClient,
    args: Args,
    other_org: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::start().await;
    let job = app.job("REQ-1").await;
    let mut body = application(&job);
    body["resume"] = json!({"text": "Ten years of deliveries."});
    let created = app.post("/v1/applications", body).await.expect(201).clone();
    let store = app.server.store();
    let org = store.list_organizations().await.unwrap()[0].id.clone();
    let client = PublicApiClient::new(store, Arc::new(SystemClock), org);
    let other_key = app.other_org().await;
    let other_org = app.server.store().list_organizations().await.unwrap()[1].id.clone();
    let _ = other_key;
    let args = Args {
        job_id: job,
        application_id: created["id"].as_str().unwrap().to_owned(),
        candidate_id: created["candidate_id"].as_str().unwrap().to_owned(),
        text: "anything".into(),
        ids: vec![created["id"].as_str().unwrap().to_owned()],
        when: None,
        limit: 10,
    };
    Fixture { app, client, args, other_org }
}

/// The store's full contents and its files, to prove that nothing changed.
async fn snapshot_of_store(app: &TestApp) -> (Value, Vec<Vec<u8>>) {
    let export = json(app.server.store().export().await.unwrap());
    let db = app.dir.path().join(public_api::store::sqlite::DB_FILE);
    let wal = db.with_extension("sqlite3-wal");
    let files = [db, wal].iter().map(|p| std::fs::read(p).unwrap_or_default()).collect();
    (export, files)
}

#[tokio::test]
async fn every_method_behaves_as_its_row_says() {
    let f = fixture().await;
    for method in AtsMethod::ALL {
        let row = public_api::ats::capability(method);
        if row.support == Support::NotSupported {
            let before = snapshot_of_store(&f.app).await;
            match call(&f.client, method, &f.args).await {
                Err(AtsError::Unsupported { provider, method: m, reason }) => {
                    assert_eq!((provider, m), (Provider::PublicApi, method));
                    assert_eq!(reason, row.note);
                }
                other => panic!("{method} is not supported, but returned {other:?}"),
            }
            assert_eq!(snapshot_of_store(&f.app).await, before, "{method} changed the store");
            continue;
        }
        let value = call(&f.client, method, &f.args)
            .await
            .unwrap_or_else(|e| panic!("{method} is {:?} but failed: {e}", row.support));
        match method {
            AtsMethod::GetJobByJobId => assert_eq!(value["id"], f.args.job_id.as_str()),
            AtsMethod::GetEnhancedJob => {
                assert_eq!(value["job"]["id"], f.args.job_id.as_str());
                assert_eq!(value["enrichment"], json!({}), "basic: no enrichment");
            }
            AtsMethod::GetCandidateById => assert_eq!(value["id"], f.args.candidate_id.as_str()),
            AtsMethod::GetResumeForCandidateId => {
                assert_eq!(value["content"]["text"], "Ten years of deliveries.")
            }
            AtsMethod::CreateApplicationForCandidate => {
                assert_eq!(value["job_id"], f.args.job_id.as_str());
                assert_eq!(value["status"], "pending");
            }
            AtsMethod::PostCallResults => {
                assert_eq!(value["status"], "completed");
                let outbox = f.app.server.store().list_outbox(f.client.org_id(), 0, 100).await.unwrap();
                let types: Vec<_> = outbox.iter().map(|(_, e)| e.event_type.as_str()).collect();
                assert_eq!(types, ["application.status_changed", "interview.completed"]);
            }
            other => panic!("{other} is supported but has no check here"),
        }
    }
}

#[test]
fn every_trait_method_has_a_row() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/ats/client.rs")).unwrap();
    let body = &source[source.find("pub trait AtsClient").expect("trait")..];
    let in_trait: BTreeSet<&str> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("async fn "))
        .map(|rest| &rest[..rest.find('(').unwrap()])
        .collect();
    let in_table: BTreeSet<&str> = AtsMethod::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(in_trait, in_table, "every AtsClient method needs a row in the capability table, and back");
    assert_eq!(in_table.len(), AtsMethod::ALL.len(), "names are unique");
}

#[tokio::test]
async fn results_are_recorded_once_with_their_events() {
    let f = fixture().await;
    let store = f.app.server.store();
    let org = f.client.org_id().to_owned();
    f.client.post_call_results(&f.args.application_id, sample_results()).await.unwrap();
    let stored = store.get_call_results(&org, &f.args.application_id).await.unwrap();
    assert_eq!(stored, Some(sample_results()));
    let before = store.list_outbox(&org, 0, 100).await.unwrap();
    assert_eq!(before.len(), 2);
    let event: Value = serde_json::from_slice(&before[1].1.payload).unwrap();
    assert_eq!(event["type"], "interview.completed");
    assert_eq!(event["data"]["application"]["id"], f.args.application_id.as_str());
    assert_eq!(event["data"]["job"]["external_id"], "REQ-1");

    // A final application takes no second result, and nothing is queued for it.
    let again = f.client.post_call_results(&f.args.application_id, sample_results()).await;
    assert!(matches!(again, Err(AtsError::Store(_))), "{again:?}");
    assert_eq!(store.list_outbox(&org, 0, 100).await.unwrap(), before);
}

#[tokio::test]
async fn coverage_table_and_integration_endpoint() {
    text_snapshot!("ats_coverage", public_api::ats::capabilities::coverage_markdown());
    let app = TestApp::start().await;
    let r = app.get("/v1/integration").await;
    snapshot!("integration", r.expect(200));
    app.send(app.client.get(app.url("/v1/integration"))).await.expect_problem(401, "api_key_missing");
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}

fn any_args() -> impl Strategy<Value = Args> {
    (
        "\\PC{0,40}",
        "\\PC{0,40}",
        "\\PC{0,40}",
        "\\PC{0,60}",
        prop::collection::vec("\\PC{0,20}", 0..4),
        prop::option::of(0i64..4_000_000_000),
        any::<u32>(),
    )
        .prop_map(|(job_id, application_id, candidate_id, text, ids, when, limit)| Args {
            job_id,
            application_id,
            candidate_id,
            text,
            ids,
            when: when.map(|s| jiff::Timestamp::from_second(s).unwrap()),
            limit,
        })
}

/// For arbitrary arguments, unsupported methods return `Unsupported` and leave the store
/// byte for byte as it was; supported reads never reach another organisation's data.
#[test]
fn unsupported_methods_never_change_anything_and_reads_stay_in_their_organisation() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let f = rt.block_on(fixture());
    let other = PublicApiClient::new(f.app.server.store(), Arc::new(SystemClock), f.other_org.clone());
    let unsupported: Vec<AtsMethod> = AtsMethod::ALL
        .into_iter()
        .filter(|m| public_api::ats::capability(*m).support == Support::NotSupported)
        .collect();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases()));
    runner
        .run(&(any_args(), 0usize..unsupported.len(), any::<bool>()), |(args, pick, real_ids)| {
            // Half the time, use real ids of the first organisation.
            let args = if real_ids {
                Args {
                    job_id: f.args.job_id.clone(),
                    application_id: f.args.application_id.clone(),
                    candidate_id: f.args.candidate_id.clone(),
                    ..args
                }
            } else {
                args
            };
            let method = unsupported[pick];
            let before = rt.block_on(snapshot_of_store(&f.app));
            let result = rt.block_on(call(&f.client, method, &args));
            let refused = matches!(result, Err(AtsError::Unsupported { method: m, .. }) if m == method);
            prop_assert!(refused, "{method}: {result:?}");
            prop_assert_eq!(rt.block_on(snapshot_of_store(&f.app)), before);

            // The other organisation's client sees none of the first one's objects.
            for read in [
                AtsMethod::GetJobByJobId,
                AtsMethod::GetEnhancedJob,
                AtsMethod::GetCandidateById,
                AtsMethod::GetResumeForCandidateId,
            ] {
                let r = rt.block_on(call(&other, read, &args));
                prop_assert!(matches!(r, Err(AtsError::NotFound { .. })), "{read}: {r:?}");
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(f.app.server.shutdown()).unwrap();
}
