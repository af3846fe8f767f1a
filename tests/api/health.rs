//! `/healthz` and `/readyz`.

use crate::helpers::*;

#[tokio::test]
async fn a_node_that_can_take_changes_is_healthy_and_ready() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let answer = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.unwrap(), "ok\n");
    }
}
