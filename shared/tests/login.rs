//! The login flow and its store operations against moto: every rule of Art 2.4 and SPEC §4.

use secrecy::SecretString;
use shared::audit::{AuditAction, Origin};
use shared::auth::flow::{ChallengeStarted, IssuedTokens};
use shared::notify::SmsSender;
use shared::problem::ApiError;
use shared::store::{AccountStatus, Permission, Relation, Role, SmsLimits};
use shared::testing::{TestAccount, TestStack};
use shared::types::{OtpCode, Username};
use std::time::Instant;

async fn stack_with_user() -> (TestStack, TestAccount) {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account(Role::Client, &[(&client, Relation::ClientSelf, &[])])
        .await;
    (stack, user)
}

/// Step one with the right password, which must succeed.
async fn start(stack: &TestStack, user: &TestAccount) -> ChallengeStarted {
    stack
        .password_step()
        .run(&user.account.username, user.password.clone(), &origin())
        .await
        .unwrap()
}

fn origin() -> Origin {
    Origin {
        source_ip: Some("127.0.0.1".into()),
        user_agent: Some("tests".into()),
    }
}

async fn actions(stack: &TestStack, who: &TestAccount) -> Vec<AuditAction> {
    stack
        .store
        .account_audit(&who.account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.action)
        .collect()
}

fn wrong_code(right: &OtpCode) -> OtpCode {
    let digits: u32 = right.as_str().parse().unwrap();
    OtpCode::parse(&format!("{:06}", (digits + 1) % 1_000_000)).unwrap()
}

#[tokio::test]
async fn password_then_code_starts_a_session_and_audits_it() {
    let (stack, user) = stack_with_user().await;
    let started = start(&stack, &user).await;
    assert_eq!(started.phone_hint, user.account.phone.masked());
    let code = stack.sms_code(&user.account.phone).await;
    let tokens: IssuedTokens = stack
        .code_step()
        .run(&started.challenge_id, &code, &origin())
        .await
        .unwrap();
    assert!(!tokens.terms_acceptance_required);
    assert!(tokens.expires_in <= 15 * 60);
    let claims = stack.verifier.verify(&tokens.access_token).unwrap();
    assert_eq!(claims.sub, user.account.id);
    assert_eq!(claims.sid, tokens.session_id);
    let sessions = stack.store.list_sessions(&user.account.id).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        actions(&stack, &user).await,
        [
            AuditAction::SmsSent,
            AuditAction::LoginSucceeded,
            AuditAction::TermsAgreed
        ]
    );
    let account = stack
        .store
        .get_account(&user.account.id)
        .await
        .unwrap()
        .unwrap();
    assert!(account.last_login_at.is_some());
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer_in_about_the_same_time() {
    let (mut stack, user) = stack_with_user().await;
    stack.settings.lockout_threshold = 100;
    let step = stack.password_step();
    let unknown = Username::parse("nobody-here").unwrap();
    // Warm up the connections, so that neither timing includes opening them.
    let _ = step.run(&unknown, "x".into(), &origin()).await;

    // Interleaved samples and medians, so that load on the machine hits both alike.
    let (mut wrong_times, mut missing_times) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        let wrong = step
            .run(&user.account.username, "not the password".into(), &origin())
            .await;
        wrong_times.push(started.elapsed());
        let started = Instant::now();
        let missing = step
            .run(&unknown, "not the password".into(), &origin())
            .await;
        missing_times.push(started.elapsed());
        assert!(matches!(wrong, Err(ApiError::InvalidCredentials)));
        assert!(matches!(missing, Err(ApiError::InvalidCredentials)));
    }
    wrong_times.sort();
    missing_times.sort();
    let (wrong_time, missing_time) = (wrong_times[2], missing_times[2]);
    let ratio = missing_time.as_secs_f64() / wrong_time.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown {missing_time:?} vs wrong {wrong_time:?}"
    );
}

#[tokio::test]
async fn failed_passwords_lock_progressively_for_known_and_unknown_users_alike() {
    let (stack, user) = stack_with_user().await;
    let step = stack.password_step();
    let unknown = Username::parse("nobody-at-all").unwrap();
    for name in [&user.account.username, &unknown] {
        for _ in 0..stack.settings.lockout_threshold {
            let result = step.run(name, "wrong password!".into(), &origin()).await;
            assert!(matches!(result, Err(ApiError::InvalidCredentials)));
        }
        // Locked now, even with the right password; the wait grows with each further failure.
        match step.run(name, user.password.clone(), &origin()).await {
            Err(ApiError::LoginLocked {
                retry_after_seconds,
            }) => {
                assert!(
                    (55..=60).contains(&retry_after_seconds),
                    "{retry_after_seconds}"
                )
            }
            other => panic!("expected a lockout, got {:?}", other.map(|_| ())),
        }
    }
    let failures = stack
        .store
        .login_failures(&user.account.username, shared::time::now().unix_timestamp())
        .await
        .unwrap();
    assert_eq!(failures.failures, stack.settings.lockout_threshold);
    let audit = actions(&stack, &user).await;
    assert_eq!(
        audit
            .iter()
            .filter(|a| **a == AuditAction::LoginLockedOut)
            .count(),
        1
    );
    assert!(audit.contains(&AuditAction::LoginFailed));
}

#[tokio::test]
async fn a_correct_password_clears_the_failure_count() {
    let (stack, user) = stack_with_user().await;
    let step = stack.password_step();
    for _ in 0..3 {
        let _ = step
            .run(&user.account.username, "wrong password!".into(), &origin())
            .await;
    }
    step.run(&user.account.username, user.password.clone(), &origin())
        .await
        .unwrap();
    assert_eq!(
        stack
            .store
            .login_failures(&user.account.username, shared::time::now().unix_timestamp())
            .await
            .unwrap()
            .failures,
        0
    );
}

#[tokio::test]
async fn five_wrong_codes_end_the_challenge() {
    let (stack, user) = stack_with_user().await;
    let started = start(&stack, &user).await;
    let right = stack.sms_code(&user.account.phone).await;
    let wrong = wrong_code(&right);
    for remaining in (0..5).rev() {
        match stack
            .code_step()
            .run(&started.challenge_id, &wrong, &origin())
            .await
        {
            Err(ApiError::CodeIncorrect { remaining_attempts }) => {
                assert_eq!(remaining_attempts, remaining)
            }
            other => panic!("expected code_incorrect, got {:?}", other.map(|_| ())),
        }
    }
    let after = stack
        .code_step()
        .run(&started.challenge_id, &right, &origin())
        .await;
    assert!(matches!(after, Err(ApiError::ChallengeInvalid)));
    assert!(
        stack
            .store
            .get_challenge(&started.challenge_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        actions(&stack, &user)
            .await
            .contains(&AuditAction::ChallengeExhausted)
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let (mut stack, user) = stack_with_user().await;
    stack.settings.code_ttl_seconds = 1;
    let started = start(&stack, &user).await;
    let code = stack.sms_code(&user.account.phone).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let result = stack
        .code_step()
        .run(&started.challenge_id, &code, &origin())
        .await;
    assert!(matches!(result, Err(ApiError::ChallengeInvalid)));
}

#[tokio::test]
async fn a_code_works_once_and_only_for_its_own_challenge() {
    let (stack, user) = stack_with_user().await;
    let step = stack.password_step();
    let first = step
        .run(&user.account.username, user.password.clone(), &origin())
        .await
        .unwrap();
    let first_code = stack.sms_code(&user.account.phone).await;
    let second = step
        .run(&user.account.username, user.password.clone(), &origin())
        .await
        .unwrap();
    let second_code = stack.sms_code(&user.account.phone).await;

    let crossed = stack
        .code_step()
        .run(&second.challenge_id, &first_code, &origin())
        .await;
    // The codes are random; in one run in a million they are the same.
    if first_code != second_code {
        assert!(matches!(crossed, Err(ApiError::CodeIncorrect { .. })));
    }
    stack
        .code_step()
        .run(&first.challenge_id, &first_code, &origin())
        .await
        .unwrap();
    let reused = stack
        .code_step()
        .run(&first.challenge_id, &first_code, &origin())
        .await;
    assert!(matches!(reused, Err(ApiError::ChallengeInvalid)));
}

#[tokio::test]
async fn two_simultaneous_uses_of_one_code_start_one_session() {
    let (stack, user) = stack_with_user().await;
    let started = start(&stack, &user).await;
    let code = stack.sms_code(&user.account.phone).await;
    let (a, b, from) = (stack.code_step(), stack.code_step(), origin());
    let (first, second) = tokio::join!(
        a.run(&started.challenge_id, &code, &from),
        b.run(&started.challenge_id, &code, &from)
    );
    assert_eq!(usize::from(first.is_ok()) + usize::from(second.is_ok()), 1);
    assert_eq!(
        stack
            .store
            .list_sessions(&user.account.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_ends_the_session() {
    let (stack, user) = stack_with_user().await;
    let tokens = stack.login(&user).await;
    let rotated = stack
        .refresh_step()
        .run(&tokens.refresh_token, &origin())
        .await
        .unwrap();
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    assert_eq!(rotated.session_id, tokens.session_id);

    let replay = stack
        .refresh_step()
        .run(&tokens.refresh_token, &origin())
        .await;
    assert!(matches!(replay, Err(ApiError::RefreshInvalid)));
    assert!(
        stack
            .store
            .list_sessions(&user.account.id)
            .await
            .unwrap()
            .is_empty()
    );
    let after = stack
        .refresh_step()
        .run(&rotated.refresh_token, &origin())
        .await;
    assert!(matches!(after, Err(ApiError::RefreshInvalid)));
    assert!(
        actions(&stack, &user)
            .await
            .contains(&AuditAction::RefreshTokenReused)
    );

    let garbage = stack.refresh_step().run("not.a.token", &origin()).await;
    assert!(matches!(garbage, Err(ApiError::RefreshInvalid)));
}

#[tokio::test]
async fn an_idle_session_cannot_be_refreshed() {
    let (mut stack, user) = stack_with_user().await;
    let tokens = stack.login(&user).await;
    stack.settings.session_idle_seconds = 1;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let result = stack
        .refresh_step()
        .run(&tokens.refresh_token, &origin())
        .await;
    assert!(matches!(result, Err(ApiError::RefreshInvalid)));
}

#[tokio::test]
async fn blocked_locked_and_closed_accounts_cannot_log_in_or_refresh() {
    for status in [
        AccountStatus::Blocked,
        AccountStatus::Locked,
        AccountStatus::Closed,
    ] {
        let (stack, user) = stack_with_user().await;
        let tokens = stack.login(&user).await;
        stack
            .store
            .set_account_status(&user.account.id, status)
            .await
            .unwrap();
        let login = stack
            .password_step()
            .run(&user.account.username, user.password.clone(), &origin())
            .await;
        assert!(
            matches!(login, Err(ApiError::AccountUnavailable)),
            "{status:?}"
        );
        let wrong = stack
            .password_step()
            .run(&user.account.username, "wrong password!".into(), &origin())
            .await;
        assert!(
            matches!(wrong, Err(ApiError::InvalidCredentials)),
            "{status:?}"
        );
        let refresh = stack
            .refresh_step()
            .run(&tokens.refresh_token, &origin())
            .await;
        assert!(
            matches!(refresh, Err(ApiError::RefreshInvalid)),
            "{status:?}"
        );
        assert!(
            actions(&stack, &user)
                .await
                .contains(&AuditAction::LoginRefused)
        );
    }
}

#[tokio::test]
async fn an_account_blocked_between_password_and_code_gets_no_session() {
    let (stack, user) = stack_with_user().await;
    let started = start(&stack, &user).await;
    let code = stack.sms_code(&user.account.phone).await;
    stack
        .store
        .set_account_status(&user.account.id, AccountStatus::Blocked)
        .await
        .unwrap();
    let result = stack
        .code_step()
        .run(&started.challenge_id, &code, &origin())
        .await;
    assert!(matches!(result, Err(ApiError::AccountUnavailable)));
    assert!(
        stack
            .store
            .list_sessions(&user.account.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sms_sends_are_limited_per_account_and_per_number() {
    for (per_account, per_number) in [(2, 5), (5, 2)] {
        let (mut stack, user) = stack_with_user().await;
        stack.settings.sms_limits = SmsLimits {
            per_account_per_hour: per_account,
            per_number_per_hour: per_number,
        };
        let step = stack.password_step();
        for _ in 0..2 {
            step.run(&user.account.username, user.password.clone(), &origin())
                .await
                .unwrap();
        }
        let third = step
            .run(&user.account.username, user.password.clone(), &origin())
            .await;
        assert!(
            matches!(third, Err(ApiError::SmsLimitReached)),
            "{per_account}/{per_number}"
        );
        assert!(
            actions(&stack, &user)
                .await
                .contains(&AuditAction::SmsLimitReached)
        );
    }
}

#[tokio::test]
async fn a_failing_sms_service_gives_a_clear_error_and_leaves_nothing_behind() {
    let (stack, user) = stack_with_user().await;
    let dead_sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&stack.sdk)
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let mut step = stack.password_step();
    step.sms = SmsSender::new(dead_sns, "Oktober".into(), "Oktober".into());
    // More failures than the hourly limit allows sends: unsent messages must not count.
    for _ in 0..=stack.settings.sms_limits.per_account_per_hour {
        let result = step
            .run(&user.account.username, user.password.clone(), &origin())
            .await;
        assert!(matches!(result, Err(ApiError::SmsUnavailable)));
    }
    let challenges = stack
        .store
        .client()
        .scan()
        .table_name(stack.store.table())
        .filter_expression("begins_with(pk, :challenge)")
        .expression_attribute_values(
            ":challenge",
            aws_sdk_dynamodb::types::AttributeValue::S("CHALLENGE#".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(challenges.count(), 0, "a challenge was left behind");
    assert!(
        actions(&stack, &user)
            .await
            .contains(&AuditAction::SmsFailed)
    );
    stack.login(&user).await;
}

#[tokio::test]
async fn a_login_without_the_current_terms_asks_for_acceptance() {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    let user = stack
        .add_account_with(
            Role::Client,
            &[(&client, Relation::ClientSelf, &[])],
            Some("1.0".into()),
            None,
        )
        .await;
    let tokens = stack.login(&user).await;
    assert!(tokens.terms_acceptance_required);
    let audit = actions(&stack, &user).await;
    assert!(audit.contains(&AuditAction::LoginSucceeded));
    assert!(!audit.contains(&AuditAction::TermsAgreed));
}

#[tokio::test]
async fn a_client_has_at_most_one_primary_account() {
    let stack = TestStack::new().await;
    let client = stack.add_client("team-a").await;
    stack
        .add_account(
            Role::Representative,
            &[(&client, Relation::Representative, &[])],
        )
        .await;
    let now = shared::time::now().unix_timestamp();
    let second = shared::accounts::register(
        &stack.store,
        shared::accounts::NewAccount {
            username: Username::parse("second-primary").unwrap(),
            display_name: "Second".into(),
            role: Role::Client,
            phone: shared::types::PhoneNumber::parse("+31600000001").unwrap(),
            email: shared::types::EmailAddress::parse("second@example.org").unwrap(),
            password: SecretString::from("another long phrase"),
            team: None,
            terms_version: None,
        },
        &[shared::accounts::grant(
            &client,
            Relation::ClientSelf,
            &[],
            now,
        )],
    )
    .await;
    assert!(matches!(
        second,
        Err(shared::accounts::RegisterError::Conflict)
    ));
    // Nothing of the refused account was written: its username is still free.
    assert!(
        stack
            .store
            .find_account_by_username(&Username::parse("second-primary").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // An authorised user is no primary holder, and gets only grantable permissions.
    let helper = stack
        .add_account(
            Role::AuthorisedUser,
            &[(
                &client,
                Relation::AuthorisedUser,
                &[Permission::Agenda, Permission::SignCarePlan],
            )],
        )
        .await;
    let context = stack
        .store
        .account_context(&helper.account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(context.grants[0].permissions, [Permission::Agenda]);
}

#[tokio::test]
async fn an_expired_failure_counter_counts_for_nothing() {
    let stack = TestStack::new().await;
    let name = Username::parse("someone-forgetful").unwrap();
    let now = shared::time::now().unix_timestamp();
    let long_ago = now - 2 * 3600;
    for _ in 0..3 {
        stack
            .store
            .record_login_failure(&name, long_ago, |_| None)
            .await
            .unwrap();
    }
    assert_eq!(
        stack
            .store
            .login_failures(&name, long_ago)
            .await
            .unwrap()
            .failures,
        3
    );
    // DynamoDB may not have deleted the expired counter yet; it must not count.
    assert_eq!(
        stack
            .store
            .login_failures(&name, now)
            .await
            .unwrap()
            .failures,
        0
    );
    let counted = stack
        .store
        .record_login_failure(&name, now, |_| None)
        .await
        .unwrap();
    assert_eq!(counted.failures, 1);
}
