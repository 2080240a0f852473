//! The `Store` trait on its own, on whichever store the suite runs on (a data directory, or a
//! PostgreSQL schema with PUBLIC_API_TEST_DATABASE_URL): the lease rules that keep replicas from
//! working on one delivery or interview at once, and what work whose lease expired may still do.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use public_api::domain::audit::AuditContext;
use public_api::domain::events::OutboxEvent;
use public_api::domain::webhooks::{AttemptTrigger, DeliveryAttempt, DeliveryStatus};
use public_api::store::sqlite::Access;
use public_api::store::webhooks::{AttemptOutcome, NewEndpoint};
use public_api::store::{self, Store};

use crate::support::TestStore;

const ORG: &str = "org_store";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).expect("a valid time")
}

/// A store with one organisation, one endpoint and one delivery due at `at(0)`.
async fn one_delivery(test_store: &TestStore) -> (Arc<dyn Store>, String) {
    let store = store::open(&test_store.location(), Access::Server, test_store.encryption_keys())
        .await
        .expect("the store opens");
    store.create_organization(ORG.into(), "Store tests".into(), at(0)).await.expect("organisation");
    let endpoint = NewEndpoint {
        id: "we_store".into(),
        url: "http://127.0.0.1:9/hook".into(),
        description: None,
        event_types: Vec::new(),
        enabled: true,
        headers: BTreeMap::new(),
        rate_limit_per_second: None,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    };
    store.create_endpoint(ORG, endpoint, at(0), AuditContext::cli()).await.expect("endpoint");
    let event = OutboxEvent {
        id: "evt_store".into(),
        event_type: "webhook.test".into(),
        application_id: None,
        created_at: at(0),
        payload: b"{}".to_vec(),
    };
    let delivery = store.queue_test_event(ORG, "we_store", event).await.expect("queued").expect("endpoint exists");
    (store, delivery)
}

fn attempt(when: Timestamp, status_code: u16) -> DeliveryAttempt {
    DeliveryAttempt {
        attempted_at: when,
        trigger: AttemptTrigger::Scheduled,
        status_code: Some(status_code),
        latency_ms: 5,
        error_class: None,
        error: None,
        response_body: None,
    }
}

async fn claim(store: &Arc<dyn Store>, owner: &str, now: Timestamp, lease: i64) -> Vec<String> {
    claim_skipping(store, owner, now, lease, &[]).await
}

async fn claim_skipping(
    store: &Arc<dyn Store>,
    owner: &str,
    now: Timestamp,
    lease: i64,
    skip_endpoints: &[String],
) -> Vec<String> {
    let until = now.checked_add(SignedDuration::from_secs(lease)).expect("a valid time");
    let claimed = store.claim_deliveries(owner, now, until, 10, skip_endpoints).await.expect("claim");
    claimed.into_iter().map(|t| t.delivery_id).collect()
}

#[tokio::test]
async fn a_delivery_is_claimed_again_only_after_its_lease_expires() {
    let test_store = TestStore::new().await;
    let (store, delivery) = one_delivery(&test_store).await;
    let busy = ["we_other".to_owned(), "we_store".to_owned()];
    assert!(claim_skipping(&store, "a", at(1), 10, &busy).await.is_empty(), "a has no room for we_store");
    assert_eq!(claim(&store, "a", at(1), 10).await, [delivery.as_str()]);
    let (shown, _) = store.get_delivery(ORG, &delivery).await.unwrap().expect("the delivery");
    assert_eq!(shown.next_attempt_at, Some(at(11)), "if a's attempt is never recorded, it is made again then");
    assert!(claim(&store, "b", at(5), 10).await.is_empty(), "a's lease is live until at(11)");
    assert!(claim(&store, "b", at(10), 10).await.is_empty(), "a's lease is live until at(11)");
    assert_eq!(claim(&store, "b", at(11), 10).await, [delivery.as_str()], "a's lease ended: b takes the delivery over");
    store.close();
}

/// Replica a's lease expires while its attempt is still out; replica b claims the delivery and
/// sends it again (same event, same `webhook-id`). Both attempts are logged, since both reached
/// the receiver; a's late success makes the delivery succeeded, b's later failure cannot undo
/// that, and a's finish does not free the lease b holds.
#[tokio::test]
async fn an_attempt_that_ends_after_its_lease_neither_frees_nor_undoes() {
    let test_store = TestStore::new().await;
    let (store, delivery) = one_delivery(&test_store).await;
    assert_eq!(claim(&store, "a", at(1), 10).await, [delivery.as_str()]);
    assert_eq!(claim(&store, "b", at(12), 10).await, [delivery.as_str()]);

    store.finish_attempt(&delivery, "a", attempt(at(13), 200), AttemptOutcome::Succeeded, at(13)).await.unwrap();
    let (shown, attempts) = store.get_delivery(ORG, &delivery).await.unwrap().expect("the delivery");
    assert_eq!(shown.status, DeliveryStatus::Succeeded);
    assert_eq!((shown.attempt_count, attempts.len()), (1, 1));

    let retry = at(100);
    store.finish_attempt(&delivery, "b", attempt(at(14), 503), AttemptOutcome::RetryAt(retry), at(14)).await.unwrap();
    let (shown, attempts) = store.get_delivery(ORG, &delivery).await.unwrap().expect("the delivery");
    assert_eq!(shown.status, DeliveryStatus::Succeeded, "a delivered message stays delivered");
    assert_eq!(shown.next_attempt_at, None);
    assert_eq!((shown.attempt_count, attempts.len()), (2, 2), "both attempts reached the receiver");
    assert!(claim(&store, "c", retry, 10).await.is_empty(), "nothing is left to send");
    store.close();
}

/// A late failure, by contrast, does not end another replica's live lease: the delivery is not
/// claimed a third time while b is still sending it.
#[tokio::test]
async fn a_late_failure_keeps_the_current_lease() {
    let test_store = TestStore::new().await;
    let (store, delivery) = one_delivery(&test_store).await;
    assert_eq!(claim(&store, "a", at(1), 10).await, [delivery.as_str()]);
    assert_eq!(claim(&store, "b", at(12), 10).await, [delivery.as_str()]);
    let retry = at(13);
    store.finish_attempt(&delivery, "a", attempt(at(13), 500), AttemptOutcome::RetryAt(retry), at(13)).await.unwrap();
    assert!(claim(&store, "c", at(14), 10).await.is_empty(), "b's lease runs to at(22)");
    // A postponement from a, after the fact, is ignored too.
    store.postpone_delivery(&delivery, "a", at(15)).await.unwrap();
    assert!(claim(&store, "c", at(16), 10).await.is_empty(), "b's lease still runs to at(22)");
    // b's own postponement lets the delivery go at the time it names.
    store.postpone_delivery(&delivery, "b", at(17)).await.unwrap();
    assert!(claim(&store, "c", at(16), 10).await.is_empty(), "not due before at(17)");
    assert_eq!(claim(&store, "c", at(17), 10).await, [delivery.as_str()]);
    store.close();
}

/// An engine whose interview lease expired and was taken over stops at its next step: the step
/// changes nothing and queues no event, while the engine that holds the lease now goes on.
#[tokio::test]
async fn an_engine_that_lost_its_interview_lease_stops() {
    use public_api::domain::application::ApplicationStatus;
    use public_api::store::InterviewStep;

    let app = crate::support::TestApp::start_with(|c| {
        c.interview.background = false;
        c.delivery.background = false;
        c.interview.delay = SignedDuration::ZERO;
    })
    .await;
    let job = app.job("REQ-LEASE").await;
    let created = app.post("/v1/applications", crate::support::application(&job)).await;
    let application_id = created.expect(201)["id"].as_str().unwrap().to_owned();
    let store = app.server.store();
    let org = store.list_organizations().await.unwrap()[0].id.clone();
    let now = Timestamp::now();
    let later = |s: i64| now.checked_add(SignedDuration::from_secs(s)).unwrap();
    let events = || async { store.list_outbox(&org, 0, 100).await.unwrap().len() };

    assert_eq!(store.claim_interviews("a", now, later(10), 10).await.unwrap().len(), 1);
    assert!(store.claim_interviews("b", later(5), later(15), 10).await.unwrap().is_empty(), "a's lease is live");
    assert_eq!(store.claim_interviews("b", later(11), later(21), 10).await.unwrap().len(), 1, "a's lease ended");

    let before = events().await;
    let stale = store.advance_interview(&org, &application_id, "a", InterviewStep::Dial, later(12)).await.unwrap();
    assert!(stale.is_none(), "a no longer holds the interview");
    assert_eq!(events().await, before, "a's step queued nothing");
    let current = store.advance_interview(&org, &application_id, "b", InterviewStep::Dial, later(12)).await.unwrap();
    assert_eq!(current.expect("b holds the interview").status, ApplicationStatus::Calling);
    assert_eq!(events().await, before + 1, "b's step queued its application.status_changed");
}
