//! Authorization codes and tokens do not pile up: expired codes are purged
//! as new ones are made, and a revoked token is gone, on both engines.

use model::{Email, IdGenerator, Password, Scopes, Username};
use std::sync::Arc;
use store::DbConfig;
use users::{CodeGrant, NewApp, SignUp, UsersApi, UsersService};

async fn rows(users: &UsersService, table: &'static str) -> i64 {
    use sqlx::Row;
    // `table` is one of this file's literals.
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM {table}"));
    let row = sqlx::query(sql).fetch_one(&users.db().pool).await.unwrap();
    row.get::<i64, _>("n")
}

async fn codes_expire_out_of_the_table_and_revoked_tokens_go(config: DbConfig) {
    let users = UsersService::open(&config, Arc::new(IdGenerator::new(1))).await.unwrap();
    let scopes = Scopes::parse("read").unwrap();
    let (app, _) = users
        .create_app(NewApp {
            name: "codes".into(),
            website: None,
            redirect_uris: vec!["urn:ietf:wg:oauth:2.0:oob".into()],
            scopes: scopes.clone(),
        })
        .await
        .unwrap();
    let account = users
        .sign_up(SignUp {
            username: Username::parse("coder").unwrap(),
            email: Email::parse("coder@example.org").unwrap(),
            password: Password::parse("correct horse battery").unwrap(),
        })
        .await
        .unwrap();
    let grant = || CodeGrant {
        app_id: app.id,
        account_id: account.id,
        scopes: scopes.clone(),
        redirect_uri: "urn:ietf:wg:oauth:2.0:oob".into(),
        pkce: None,
    };
    for _ in 0..3 {
        users.create_auth_code(grant()).await.unwrap();
    }
    assert_eq!(rows(&users, "auth_codes").await, 3);
    // Their ten minutes pass.
    sqlx::query("UPDATE auth_codes SET expires_at = expires_at - 700000").execute(&users.db().pool).await.unwrap();
    let fresh = users.create_auth_code(grant()).await.unwrap();
    assert_eq!(rows(&users, "auth_codes").await, 1, "the expired codes were purged");
    users.redeem_auth_code(app.id, &fresh, "urn:ietf:wg:oauth:2.0:oob", None).await.unwrap();
    assert_eq!(rows(&users, "auth_codes").await, 0, "a redeemed code is gone");

    let before = rows(&users, "tokens").await;
    let token = users.issue_token(app.id, Some(account.id), scopes).await.unwrap();
    users.revoke_token(app.id, &token.access_token).await.unwrap();
    assert_eq!(rows(&users, "tokens").await, before, "a revoked token is deleted");
    assert!(users.authenticate(&token.access_token).await.unwrap().is_none());
}

#[tokio::test]
async fn codes_and_tokens_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    codes_expire_out_of_the_table_and_revoked_tokens_go(DbConfig::Sqlite { dir: dir.path().into() }).await;
}

#[tokio::test]
async fn codes_and_tokens_on_postgres() {
    let db = testdb::TestDatabase::create().await;
    codes_expire_out_of_the_table_and_revoked_tokens_go(db.config()).await;
    db.drop().await;
}
