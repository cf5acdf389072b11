//! `GET /me` for every role, over HTTP against moto.

use shared::store::{Permission, Relation, Role};
use shared::testing::{TestStack, app, request, send};

#[tokio::test]
async fn every_role_sees_itself_and_the_clients_it_may_act_for() {
    let stack = TestStack::new().await;
    let router = app(me::router(me::MeState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let own = stack.add_client("team-a").await;
    let represented = stack.add_client("team-a").await;
    let elsewhere = stack.add_client("team-b").await;
    let client = stack
        .add_account(Role::Client, &[(&own, Relation::ClientSelf, &[])])
        .await;
    let representative = stack
        .add_account(
            Role::Representative,
            &[(&represented, Relation::Representative, &[])],
        )
        .await;
    let authorised = stack
        .add_account(
            Role::AuthorisedUser,
            &[(
                &own,
                Relation::AuthorisedUser,
                &[Permission::Agenda, Permission::ReadReports],
            )],
        )
        .await;
    let staff = stack.add_staff("team-a").await;
    let admin = stack.add_account(Role::Admin, &[]).await;

    // The body, and the DynamoDB requests the call made.
    let me = |who| {
        let stack = &stack;
        let router = &router;
        async move {
            let tokens = stack.login(who).await;
            stack.dynamo_calls.take();
            let reply = send(
                router,
                request("GET", "/me", None, Some(&tokens.access_token)),
            )
            .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            (reply.body, stack.dynamo_calls.take())
        }
    };
    let ids = |body: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = body["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };

    let (body, calls) = me(&client).await;
    assert_eq!(
        calls, 1,
        "the auth check has all a client-side account needs"
    );
    assert_eq!(body["account"]["role"], "client");
    assert_eq!(
        body["account"]["username"],
        client.account.username.as_str()
    );
    assert!(body["account"].get("password_hash").is_none());
    assert_eq!(ids(&body), [own.id.to_string()]);
    assert_eq!(body["clients"][0]["relation"], "client_self");
    assert_eq!(
        body["clients"][0]["permissions"].as_array().unwrap().len(),
        Permission::ALL.len()
    );

    let (body, _) = me(&representative).await;
    assert_eq!(ids(&body), [represented.id.to_string()]);
    assert_eq!(body["clients"][0]["relation"], "representative");

    let (body, _) = me(&authorised).await;
    assert_eq!(body["clients"][0]["relation"], "authorised_user");
    assert_eq!(
        body["clients"][0]["permissions"],
        serde_json::json!(["agenda", "read_reports"])
    );

    let (body, calls) = me(&staff).await;
    assert_eq!(calls, 2, "staff: the auth check, then their team's clients");
    let mut team_a = vec![own.id.to_string(), represented.id.to_string()];
    team_a.sort();
    assert_eq!(ids(&body), team_a);
    assert!(!ids(&body).contains(&elsewhere.id.to_string()));
    assert_eq!(body["clients"][0]["relation"], "care_team");

    let (body, _) = me(&admin).await;
    assert!(ids(&body).is_empty());
}

#[tokio::test]
async fn me_needs_the_current_terms_accepted() {
    let stack = TestStack::new().await;
    let router = app(me::router(me::MeState {
        store: stack.store.clone(),
        auth: stack.authenticator(),
    }));
    let own = stack.add_client("team-a").await;
    let user = stack
        .add_account_with(
            Role::Client,
            &[(&own, Relation::ClientSelf, &[])],
            Some("1.0".into()),
            None,
        )
        .await;
    let tokens = stack.login(&user).await;
    let reply = send(
        &router,
        request("GET", "/me", None, Some(&tokens.access_token)),
    )
    .await;
    assert_eq!(
        (reply.status.as_u16(), reply.problem_code()),
        (403, "terms_not_accepted")
    );
}
