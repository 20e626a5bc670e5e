//! `routes::oauth` at the handler level.

mod support;

use axum::body::Body;
use http::{Request, StatusCode, header};
use serde_json::json;
use support::Harness;

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client_and_a_wider_scope_invalid_scope() {
    let h = Harness::new().await;
    let (app, _) = h.app("read").await;
    let wrong = h
        .post(
            "/oauth/token",
            None,
            json!({"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": "nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"], "invalid_client");
    let wider = h
        .post(
            "/oauth/token",
            None,
            json!({"grant_type": "client_credentials", "client_id": app["client_id"],
                   "client_secret": app["client_secret"], "scope": "read write"}),
        )
        .await;
    assert_eq!(wider.status, StatusCode::BAD_REQUEST);
    assert_eq!(wider.body["error"], "invalid_scope");
}

#[tokio::test]
async fn the_password_grant_logs_in_and_a_wrong_password_is_invalid_grant() {
    let h = Harness::new().await;
    h.user("alice").await;
    let (app, _) = h.app("read").await;
    let login = |password: &'static str| {
        json!({"grant_type": "password", "client_id": app["client_id"], "client_secret": app["client_secret"],
               "username": "alice@example.org", "password": password, "scope": "read"})
    };
    let ok = h.post("/oauth/token", None, login("correct horse battery")).await.expect(StatusCode::OK);
    let token = ok["access_token"].as_str().unwrap();
    let me = h.get("/api/v1/accounts/verify_credentials", Some(token)).await.expect(StatusCode::OK);
    assert_eq!(me["username"], "alice");
    let bad = h.post("/oauth/token", None, login("wrong")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_revoked_token_stops_working() {
    let h = Harness::new().await;
    let (app, token) = h.app("read").await;
    h.get("/api/v1/apps/verify_credentials", Some(&token)).await.expect(StatusCode::OK);
    h.post(
        "/oauth/revoke",
        None,
        json!({"client_id": app["client_id"], "client_secret": app["client_secret"], "token": token}),
    )
    .await
    .expect(StatusCode::OK);
    h.get("/api/v1/apps/verify_credentials", Some(&token)).await.error(StatusCode::UNAUTHORIZED);
}

const CB: &str = "https://app.example/cb";

/// A web app with `CB` as its redirect; (client_id, client_secret).
async fn web_app(h: &Harness) -> (String, String) {
    let app = h
        .post("/api/v1/apps", None, json!({"client_name": "web", "redirect_uris": [CB], "scopes": "read write"}))
        .await
        .expect(StatusCode::OK);
    (app["client_id"].as_str().unwrap().to_string(), app["client_secret"].as_str().unwrap().to_string())
}

/// The authorize page for `query`, and its CSRF token (form field and cookie).
async fn authorize_page(h: &Harness, query: &str) -> (support::Answer, String) {
    let page = h.get(&format!("/oauth/authorize?{query}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let token = page
        .text
        .split(r#"name="authenticity_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries a CSRF token")
        .to_string();
    let cookie = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with(&format!("aviary_authorize_csrf={token};")), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    (page, token)
}

/// Posts the authorize form; `csrf` is (cookie, field).
async fn submit(h: &Harness, fields: &[(&str, &str)], csrf: (Option<&str>, Option<&str>)) -> support::Answer {
    let mut fields = fields.to_vec();
    if let Some(t) = csrf.1 {
        fields.push(("authenticity_token", t));
    }
    let mut req = Request::post("/oauth/authorize").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = csrf.0 {
        req = req.header(header::COOKIE, format!("other=1; aviary_authorize_csrf={c}"));
    }
    h.send(req.body(Body::from(serde_urlencoded::to_string(&fields).unwrap())).unwrap()).await
}

/// Logs `alice` in on the authorize form for `cid` with `extra` fields;
/// the code from the redirect.
async fn code_for(h: &Harness, cid: &str, extra: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(
        [("client_id", cid), ("redirect_uri", CB), ("response_type", "code"), ("scope", "read")]
            .iter()
            .chain(extra)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let (_, token) = authorize_page(h, &query).await;
    let mut fields = vec![
        ("client_id", cid),
        ("redirect_uri", CB),
        ("scope", "read"),
        ("login", "alice@example.org"),
        ("password", "correct horse battery"),
        ("decision", "approve"),
    ];
    fields.extend_from_slice(extra);
    let answer = submit(h, &fields, (Some(&token), Some(&token))).await;
    assert!(answer.status.is_redirection(), "{} {}", answer.status, answer.text);
    let location = answer.headers[header::LOCATION].to_str().unwrap();
    location.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string()
}

async fn redeem(h: &Harness, (cid, secret): (&str, &str), code: &str, verifier: Option<&str>) -> support::Answer {
    let mut body = json!({"grant_type": "authorization_code", "code": code, "client_id": cid,
                          "client_secret": secret, "redirect_uri": CB});
    if let Some(v) = verifier {
        body["code_verifier"] = json!(v);
    }
    h.post("/oauth/token", None, body).await
}

#[tokio::test]
async fn pkce_binds_a_code_to_its_verifier_for_s256_and_plain() {
    let h = Harness::new().await;
    h.user("alice").await;
    let (cid, secret) = web_app(&h).await;
    let client = (cid.as_str(), secret.as_str());
    // RFC 7636, appendix B.
    let (verifier, challenge) =
        ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let s256 = [("code_challenge", challenge), ("code_challenge_method", "S256")];
    for wrong in [None, Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"), Some(challenge)] {
        let code = code_for(&h, &cid, &s256).await;
        let answer = redeem(&h, client, &code, wrong).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "verifier {wrong:?}: {}", answer.body);
        assert_eq!(answer.body["error"], "invalid_grant");
        // A failed attempt spends the code.
        assert_eq!(redeem(&h, client, &code, Some(verifier)).await.status, StatusCode::BAD_REQUEST);
    }
    let code = code_for(&h, &cid, &s256).await;
    let ok = redeem(&h, client, &code, Some(verifier)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.headers[header::CACHE_CONTROL], "no-store");

    let plain = "p".repeat(50);
    let code = code_for(&h, &cid, &[("code_challenge", &plain)]).await;
    assert_eq!(redeem(&h, client, &code, Some(&"q".repeat(50))).await.status, StatusCode::BAD_REQUEST);
    let code = code_for(&h, &cid, &[("code_challenge", &plain)]).await;
    assert_eq!(redeem(&h, client, &code, Some(&plain)).await.status, StatusCode::OK);
    // Without a challenge, no verifier is needed (confidential clients).
    let code = code_for(&h, &cid, &[]).await;
    assert_eq!(redeem(&h, client, &code, None).await.status, StatusCode::OK);
    // A malformed challenge or an unknown method is refused on the page.
    for bad in ["code_challenge=short&code_challenge_method=S256", "code_challenge_method=S512"] {
        let page = h.get(&format!("/oauth/authorize?client_id={cid}&redirect_uri={CB}&{bad}"), None).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn the_authorize_page_cannot_be_framed_cached_or_posted_from_elsewhere() {
    let h = Harness::new().await;
    h.user("alice").await;
    let (cid, _) = web_app(&h).await;
    let (page, token) = authorize_page(&h, &format!("client_id={cid}&redirect_uri={CB}&response_type=code")).await;
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(!page.headers[header::SET_COOKIE].to_str().unwrap().contains("Secure"), "plain http here");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in ["default-src 'none'", "frame-ancestors 'none'", "form-action 'self' https://app.example"] {
        assert!(csp.contains(part), "{csp}");
    }
    let login = [
        ("client_id", cid.as_str()),
        ("redirect_uri", CB),
        ("login", "alice@example.org"),
        ("password", "correct horse battery"),
        ("decision", "approve"),
    ];
    // Without the token, with only one half, or with halves that differ.
    let other = "x".repeat(token.len());
    for csrf in [(None, None), (Some(token.as_str()), None), (None, Some(token.as_str())), (Some(&other), Some(&token))]
    {
        let answer = submit(&h, &login, (csrf.0, csrf.1)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(answer.headers.get(header::LOCATION).is_none());
    }
    let ok = submit(&h, &login, (Some(&token), Some(&token))).await;
    assert!(ok.status.is_redirection(), "{}", ok.status);
}

#[tokio::test]
async fn the_csrf_cookie_is_secure_behind_an_https_public_url() {
    let h = Harness::with(|s| s.instance.public_url = Some("https://social.example".into())).await;
    let (cid, _) = web_app(&h).await;
    let (page, _) = authorize_page(&h, &format!("client_id={cid}&redirect_uri={CB}")).await;
    assert!(page.headers[header::SET_COOKIE].to_str().unwrap().ends_with("; Secure"));
}

#[tokio::test]
async fn deny_redirects_only_after_the_account_logs_in() {
    let h = Harness::new().await;
    h.user("alice").await;
    let (cid, _) = web_app(&h).await;
    let (_, token) = authorize_page(&h, &format!("client_id={cid}&redirect_uri={CB}")).await;
    let csrf = (Some(token.as_str()), Some(token.as_str()));
    let anonymous = [("client_id", cid.as_str()), ("redirect_uri", CB), ("decision", "deny"), ("state", "s1")];
    let answer = submit(&h, &anonymous, csrf).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers.get(header::LOCATION).is_none());
    let mut logged_in = anonymous.to_vec();
    logged_in.extend([("login", "alice"), ("password", "correct horse battery")]);
    let answer = submit(&h, &logged_in, csrf).await;
    assert!(answer.status.is_redirection());
    assert_eq!(answer.headers[header::LOCATION], format!("{CB}?error=access_denied&state=s1"));
}

#[tokio::test]
async fn the_server_metadata_names_the_endpoints_and_pkce_methods() {
    let h = Harness::with(|s| s.instance.public_url = Some("https://social.example/".into())).await;
    let meta = h.get("/.well-known/oauth-authorization-server", None).await.expect(StatusCode::OK);
    assert_eq!(meta["issuer"], "https://social.example/");
    assert_eq!(meta["authorization_endpoint"], "https://social.example/oauth/authorize");
    assert_eq!(meta["token_endpoint"], "https://social.example/oauth/token");
    assert_eq!(meta["revocation_endpoint"], "https://social.example/oauth/revoke");
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256", "plain"]));
    assert!(meta["scopes_supported"].as_array().unwrap().contains(&json!("write:statuses")));
    assert!(meta["grant_types_supported"].as_array().unwrap().contains(&json!("authorization_code")));
}

/// Without `public_url` (a server on loopback), a client's `Host` and
/// `X-Forwarded-Proto` shape links only when they name this machine or a
/// trusted proxy sent them.
#[tokio::test]
async fn forged_host_and_proto_do_not_shape_links() {
    async fn endpoint(h: &Harness, host: &str, proto: &str) -> String {
        let mut req = Request::get("/.well-known/oauth-authorization-server")
            .header(header::HOST, host)
            .header("x-forwarded-proto", proto)
            .body(Body::empty())
            .unwrap();
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        h.send(req).await.expect(StatusCode::OK)["token_endpoint"].as_str().unwrap().to_string()
    }
    let h = Harness::new().await;
    assert_eq!(endpoint(&h, "evil.example", "https").await, "http://localhost/oauth/token");
    assert_eq!(endpoint(&h, "127.0.0.1:8080", "https").await, "http://127.0.0.1:8080/oauth/token");
    // The harness's peer is 127.0.0.1: as a trusted front, it is believed.
    let h = Harness::with(|s| s.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    assert_eq!(endpoint(&h, "social.example", "https").await, "https://social.example/oauth/token");
}

#[tokio::test]
async fn hostile_app_metadata_is_refused() {
    let h = Harness::new().await;
    let app = |body: serde_json::Value| async { h.post("/api/v1/apps", None, body).await };
    let cases = [
        json!({"client_name": "x", "redirect_uris": CB, "website": "javascript:alert(1)"}),
        json!({"client_name": "x", "redirect_uris": CB, "website": "https://x.example/\u{7}"}),
        json!({"client_name": "x", "redirect_uris": CB, "website": format!("https://x.example/{}", "a".repeat(2000))}),
        json!({"client_name": "x", "redirect_uris": "javascript://x%0aalert(1)"}),
        json!({"client_name": "x", "redirect_uris": "https://app.example/cb\rX: y"}),
        json!({"client_name": "x", "redirect_uris": "data:text/html,<script>"}),
        json!({"client_name": "x", "redirect_uris": vec![CB; 200]}),
        json!({"client_name": "x".repeat(61), "redirect_uris": CB}),
        json!({"client_name": "   ", "redirect_uris": CB}),
        json!({"client_name": "x"}),
    ];
    for body in cases {
        let answer = app(body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", answer.body);
        assert!(answer.body["error"].as_str().unwrap().starts_with("Validation failed: "), "{}", answer.body);
    }
    let fine = app(json!({"client_name": "Elk", "redirect_uris": "elk://callback\nhttps://elk.zone/cb",
                          "website": "https://elk.zone"}))
    .await
    .expect(StatusCode::OK);
    assert_eq!(fine["website"], "https://elk.zone");
    assert_eq!(fine["redirect_uris"], json!(["elk://callback", "https://elk.zone/cb"]));
}
