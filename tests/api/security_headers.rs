//! The security headers on every answer, and the content security policy's
//! script nonce, new for every page and carried by each of its scripts.

use crate::helpers::*;

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let answers = [
        client.get(app.url("/")).send().await.unwrap(),
        client.get(app.url("/api/stock")).send().await.unwrap(),
        client.get(app.url("/burts-books")).send().await.unwrap(),
        client.get(app.url("/no-such-page")).send().await.unwrap(),
        client
            .post(app.url("/cart"))
            .form(&[("session", "x")])
            .send()
            .await
            .unwrap(),
    ];
    for answer in answers {
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let what = format!("{} {}", answer.url().path(), answer.status());
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(
            header("referrer-policy"),
            "strict-origin-when-cross-origin",
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_pages_scripts_all_carry_the_nonce_its_policy_names() {
    let app = spawn_app().await;
    let mut nonces = Vec::new();
    for path in ["/", "/cart", "/books/definitive-guide-to-the-internet"] {
        let answer = reqwest::get(app.url(path)).await.unwrap();
        let policy = answer.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let html = answer.text().await.unwrap();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {policy}"))
            .to_string();
        assert!(
            policy.contains("script-src 'self' 'nonce-") && policy.contains("'wasm-unsafe-eval'"),
            "{path}: {policy}"
        );
        let scripts = html.matches("<script").count();
        assert!(scripts > 0, "{path} has its hydration scripts");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every script carries the nonce"
        );
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a new nonce for every page");
}
