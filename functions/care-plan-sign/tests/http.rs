//! Signing the care plan over HTTP against moto: who may sign, what binds the signature, and
//! the conflicts of a stale version, a second signature and two at once.

use serde_json::json;
use shared::audit::AuditAction;
use shared::dossier::EcdSubmission;
use shared::store::{Client, Permission, Relation, Role};
use shared::testing::{TestAccount, TestStack, app, request, send};

struct Setup {
    stack: TestStack,
    router: axum::Router,
    client: Client,
    holder: TestAccount,
}

async fn setup(relation: Relation) -> Setup {
    let stack = TestStack::new().await;
    let router = app(care_plan_sign::router(care_plan_sign::SignState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let client = stack.add_client("noord").await;
    let role = match relation {
        Relation::Representative => Role::Representative,
        _ => Role::Client,
    };
    let holder = stack.add_account(role, &[(&client, relation, &[])]).await;
    Setup {
        stack,
        router,
        client,
        holder,
    }
}

fn sign(
    client: &Client,
    body: serde_json::Value,
    token: &str,
) -> axum::http::Request<axum::body::Body> {
    request(
        "POST",
        &format!("/clients/{}/care-plan/signatures", client.id),
        Some(&body.to_string()),
        Some(token),
    )
}

#[tokio::test]
async fn the_primary_holder_signs_the_current_version_once_with_its_outbox_and_audit_entries() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup(Relation::Representative).await;
    let plan = stack.publish_care_plan(&client.id, 1).await;
    let token = stack.login(&holder).await.access_token;
    stack.dynamo_calls.take();

    let body = json!({"version": 1, "content_hash": plan.content_hash});
    let reply = send(&router, sign(&client, body.clone(), &token)).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        stack.dynamo_calls.take(),
        2,
        "access check, then one transaction"
    );
    assert_eq!(reply.body["version"], 1);
    assert_eq!(reply.body["content_hash"], plan.content_hash.as_str());
    assert_eq!(
        reply.body["signature"]["signer"],
        holder.account.id.as_str()
    );
    assert_eq!(reply.body["signature"]["relation"], "representative");

    // The version and the client's head both carry the signature.
    let stored = stack
        .store
        .current_care_plan(&client.id)
        .await
        .unwrap()
        .unwrap();
    let signature = stored.signature.expect("the version is signed");
    assert_eq!(signature.signer, holder.account.id);
    let head = stack.store.get_client(&client.id).await.unwrap().unwrap();
    assert_eq!(head.care_plan.unwrap().signature, Some(signature.clone()));

    // The ECD hears of it through the outbox.
    let outbox = stack.store.pending_outbox().await.unwrap();
    let submissions: Vec<_> = outbox
        .iter()
        .filter(|entry| {
            matches!(&entry.submission,
                EcdSubmission::CarePlanSignature { client: c, .. } if *c == client.id)
        })
        .collect();
    assert_eq!(submissions.len(), 1);
    let EcdSubmission::CarePlanSignature {
        version,
        content_hash,
        ..
    } = &submissions[0].submission
    else {
        unreachable!()
    };
    assert_eq!(
        (*version, content_hash.as_str()),
        (1, plan.content_hash.as_str())
    );

    let signed: Vec<_> = stack
        .client_audit(&client.id)
        .await
        .into_iter()
        .filter(|event| event.action == AuditAction::CarePlanSigned)
        .collect();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].actor.as_ref(), Some(&holder.account.id));
    assert_eq!(signed[0].on_behalf_of.as_ref(), Some(&client.id));
    assert_eq!(signed[0].data_category.as_deref(), Some("care_plan"));

    // Signing again is a conflict, and changes nothing.
    let again = send(&router, sign(&client, body, &token)).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.problem_code(), "care_plan_already_signed");
    let after = stack
        .store
        .current_care_plan(&client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.signature, Some(signature));
    assert_eq!(
        stack.store.pending_outbox().await.unwrap().len(),
        outbox.len()
    );
}

#[tokio::test]
async fn a_stale_version_or_a_wrong_hash_is_refused_and_changes_nothing() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup(Relation::ClientSelf).await;
    let first = stack.publish_care_plan(&client.id, 1).await;
    let second = stack.publish_care_plan(&client.id, 2).await;
    let token = stack.login(&holder).await.access_token;

    let stale = send(
        &router,
        sign(
            &client,
            json!({"version": 1, "content_hash": first.content_hash}),
            &token,
        ),
    )
    .await;
    assert_eq!(stale.status, 409);
    assert_eq!(stale.problem_code(), "care_plan_version_not_current");

    let wrong_hash = send(
        &router,
        sign(
            &client,
            json!({"version": 2, "content_hash": first.content_hash}),
            &token,
        ),
    )
    .await;
    assert_eq!(wrong_hash.status, 422);
    assert_eq!(wrong_hash.problem_code(), "content_hash_mismatch");

    for bad in [
        json!({"version": 2}),
        json!({"version": -1, "content_hash": second.content_hash}),
        json!({"version": 2, "content_hash": second.content_hash, "extra": true}),
    ] {
        let reply = send(&router, sign(&client, bad, &token)).await;
        assert_eq!(reply.status, 400, "{reply:?}");
    }

    let versions = stack.store.care_plan_versions(&client.id).await.unwrap();
    assert!(versions.iter().all(|version| version.signature.is_none()));
    assert!(stack.store.pending_outbox().await.unwrap().iter().all(
        |entry| !matches!(&entry.submission, EcdSubmission::CarePlanSignature { client: c, .. } if *c == client.id)
    ));
}

#[tokio::test]
async fn only_the_primary_holder_may_sign() {
    let Setup {
        stack,
        router,
        client,
        ..
    } = setup(Relation::ClientSelf).await;
    let plan = stack.publish_care_plan(&client.id, 1).await;
    let authorised = stack
        .add_account(
            Role::AuthorisedUser,
            &[(&client, Relation::AuthorisedUser, &Permission::ALL)],
        )
        .await;
    let staff = stack.add_staff("noord").await;
    let admin = stack.add_account(Role::Admin, &[]).await;
    let body = json!({"version": 1, "content_hash": plan.content_hash});
    for (who, code) in [
        (&authorised, "permission_missing"),
        (&staff, "permission_missing"),
        (&admin, "client_forbidden"),
    ] {
        let token = stack.login(who).await.access_token;
        let reply = send(&router, sign(&client, body.clone(), &token)).await;
        assert_eq!(reply.status, 403, "{reply:?}");
        assert_eq!(reply.problem_code(), code);
    }
    let reply = send(&router, sign(&client, body, "not-a-token")).await;
    assert_eq!(reply.status, 401);
    assert!(
        stack
            .store
            .current_care_plan(&client.id)
            .await
            .unwrap()
            .unwrap()
            .signature
            .is_none()
    );
}

#[tokio::test]
async fn of_two_signatures_sent_at_once_exactly_one_gets_through() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup(Relation::ClientSelf).await;
    let plan = stack.publish_care_plan(&client.id, 1).await;
    // Two devices of the same holder, each with its own session.
    let phone = stack.login(&holder).await.access_token;
    let laptop = stack.login(&holder).await.access_token;
    let body = json!({"version": 1, "content_hash": plan.content_hash});
    let (a, b) = tokio::join!(
        send(&router, sign(&client, body.clone(), &phone)),
        send(&router, sign(&client, body, &laptop)),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    let loser = if a.status == 409 { &a } else { &b };
    assert_eq!(loser.problem_code(), "care_plan_already_signed");
    let signatures = stack
        .store
        .pending_outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| {
            matches!(&entry.submission,
                EcdSubmission::CarePlanSignature { client: c, .. } if *c == client.id)
        })
        .count();
    assert_eq!(signatures, 1);
}

#[tokio::test]
async fn a_version_published_while_the_holder_was_reading_makes_the_signature_a_conflict() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup(Relation::ClientSelf).await;
    let read = stack.publish_care_plan(&client.id, 1).await;
    let token = stack.login(&holder).await.access_token;
    stack.publish_care_plan(&client.id, 2).await;
    let reply = send(
        &router,
        sign(
            &client,
            json!({"version": 1, "content_hash": read.content_hash}),
            &token,
        ),
    )
    .await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.problem_code(), "care_plan_version_not_current");
    assert!(reply.body["detail"].as_str().unwrap().contains("version 2"));
}

#[tokio::test]
async fn a_client_without_a_care_plan_has_nothing_to_sign() {
    let Setup {
        stack,
        router,
        client,
        holder,
    } = setup(Relation::ClientSelf).await;
    let token = stack.login(&holder).await.access_token;
    let reply = send(
        &router,
        sign(
            &client,
            json!({"version": 1, "content_hash": "sha256:00"}),
            &token,
        ),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.problem_code(), "not_found");
}
