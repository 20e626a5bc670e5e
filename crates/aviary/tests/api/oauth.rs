//! OAuth 2: the authorization-code flow through the login page, the
//! password and client-credentials grants, and their failures.

use http::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn authorization_code_flow_issues_a_single_use_code_for_the_redirect() {
    let s = crate::start().await;
    let api = s.api();
    let user = api.sign_up("coder").await;
    let app: Value = api
        .expect(
            api.post_json(
                "/api/v1/apps",
                None,
                json!({"client_name": "web", "redirect_uris": ["https://app.example/cb"], "scopes": "read write"}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    let (cid, secret) = (app["client_id"].as_str().unwrap(), app["client_secret"].as_str().unwrap());
    let page = api.get(&format!("/oauth/authorize?client_id={cid}&redirect_uri=https://app.example/cb&response_type=code&scope=read&state=xyz"), None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("name=\"password\"") && html.contains("web"));
    // The form's CSRF token goes back with its cookie.
    let csrf = html.split(r#"name="authenticity_token" value=""#).nth(1).unwrap().split('"').next().unwrap();

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [
        ("client_id", cid),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "read"),
        ("state", "xyz"),
        ("login", "coder@example.org"),
        ("password", "wrong password!"),
        ("authenticity_token", csrf),
    ];
    let post = |form: [(&'static str, &str); 7]| {
        no_redirects.post(format!("{}/oauth/authorize", s.base())).header("cookie", &cookie).form(&form).send()
    };
    let denied = post(form).await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let mut form = form;
    form[5].1 = "correct horse battery";
    let ok = post(form).await.unwrap();
    assert!(ok.status().is_redirection());
    let location = ok.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("https://app.example/cb?code="), "{location}");
    assert!(location.ends_with("&state=xyz"));
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();

    let exchange = json!({"grant_type": "authorization_code", "code": code, "client_id": cid, "client_secret": secret,
                          "redirect_uri": "https://app.example/cb"});
    let token = api.expect(api.post_json("/oauth/token", None, exchange.clone()).await, StatusCode::OK).await;
    assert_eq!(token["scope"], "read");
    let me = api
        .expect(api.get("/api/v1/accounts/verify_credentials", token["access_token"].as_str()).await, StatusCode::OK)
        .await;
    assert_eq!(me["id"], user.id);
    // The code works once.
    let again = api.expect(api.post_json("/oauth/token", None, exchange).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(again["error"], "invalid_grant");
    // An unregistered redirect is refused before any login.
    let bad = api.get(&format!("/oauth/authorize?client_id={cid}&redirect_uri=https://evil.example/"), None).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn token_endpoint_refuses_bad_clients_passwords_grants_and_scopes() {
    let s = crate::start().await;
    let api = s.api();
    let app = api.register_app("read write").await;
    api.sign_up_with(&app, "pw").await;
    let base = json!({"client_id": app.client_id, "client_secret": app.client_secret});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let r = api
        .post_json(
            "/oauth/token",
            None,
            with(json!({"grant_type": "password", "username": "pw@example.org", "password": "nope nope nope"})),
        )
        .await;
    assert_eq!(api.expect(r, StatusCode::BAD_REQUEST).await["error"], "invalid_grant");
    let r = api
        .post_json(
            "/oauth/token",
            None,
            with(json!({"grant_type": "password", "username": "pw", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(api.expect(r, StatusCode::OK).await["scope"], "read write");
    let r =
        api.post_json("/oauth/token", None, with(json!({"grant_type": "client_credentials", "scope": "follow"}))).await;
    assert_eq!(api.expect(r, StatusCode::BAD_REQUEST).await["error"], "invalid_scope");
    let r = api.post_json("/oauth/token", None, with(json!({"grant_type": "implicit"}))).await;
    assert_eq!(api.expect(r, StatusCode::BAD_REQUEST).await["error"], "unsupported_grant_type");
    let r = api
        .post_json(
            "/oauth/token",
            None,
            json!({"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": "x"}),
        )
        .await;
    assert_eq!(api.expect(r, StatusCode::UNAUTHORIZED).await["error"], "invalid_client");
    // The app can check its own credentials; the secret is never shown again.
    let v = api.expect(api.get("/api/v1/apps/verify_credentials", Some(&app.token)).await, StatusCode::OK).await;
    assert_eq!(v["name"], "testkit");
    assert!(v.get("client_secret").is_none());
}

#[tokio::test]
async fn sign_up_validates_every_field_and_rejects_duplicates() {
    let s = crate::start().await;
    let api = s.api();
    let app = api.register_app("read write").await;
    let r = api
        .post_json(
            "/api/v1/accounts",
            Some(&app.token),
            json!({"username": "bad name", "email": "nope", "password": "short", "agreement": false}),
        )
        .await;
    let e = api.expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    for field in ["username", "email", "password", "agreement"] {
        assert!(e["details"][field][0]["error"].is_string(), "{field}: {e}");
    }
    api.sign_up_with(&app, "taken").await;
    let r = api
        .post_json(
            "/api/v1/accounts",
            Some(&app.token),
            json!({"username": "TAKEN", "email": "new@example.org", "password": "long enough pw", "agreement": true}),
        )
        .await;
    let e = api.expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(e["details"]["username"][0]["error"], "ERR_TAKEN");
}
