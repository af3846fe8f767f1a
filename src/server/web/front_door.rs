//! The door every request passes before its route: who is asking
//! ([`client_address`](super::client_address)), whether it may
//! ([`origin`](super::origin)), and the headers its answer carries
//! ([`headers`](super::headers)). The rules stay in their own modules; this
//! file only runs them in order, as one [`Checkpoint`] (the router adds
//! axum's body limit in the same layer).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};

use super::checkpoint::{Checkpoint, Exit};
use super::client_address::{ClientAddress, TrustedProxies};
use super::headers;
use super::origin::OriginPolicy;
use crate::shared::ShopError;

/// What the door checks against, set once at start.
#[derive(Clone)]
pub struct FrontDoor {
    pub origins: OriginPolicy,
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Whether the shop is served over HTTPS (answers then carry HSTS).
    pub https: bool,
}

impl Checkpoint for FrontDoor {
    type Exit = SecurityHeaders;

    fn enter(&self, request: &mut Request) -> (SecurityHeaders, Result<(), Response>) {
        // Who is asking, first: every limit behind the door counts by it.
        // A request that came over no connection (a test calling the router)
        // has no address; `ClientAddress::of` says so.
        if let Some(peer) = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        {
            let client = self.trusted_proxies.client(peer, request.headers());
            request.extensions_mut().insert(ClientAddress(client));
        }
        let exit = SecurityHeaders { https: self.https };
        if !self.origins.admits(request) {
            // The refusal leaves through the same exit as any answer.
            return (exit, Err(ShopError::CrossOrigin.into_response()));
        }
        (exit, Ok(()))
    }
}

/// Every answer's security headers, stamped on the way out.
pub struct SecurityHeaders {
    https: bool,
}

impl Exit for SecurityHeaders {
    fn leave(self, response: &mut Response) {
        headers::stamp(response.headers_mut(), self.https);
    }
}
