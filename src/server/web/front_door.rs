//! The door every request passes before its route: who is asking
//! ([`client_address`](super::client_address)), whether it may
//! ([`origin`](super::origin)), how large a body it may bring, and the
//! headers its answer carries ([`headers`](super::headers)).
//!
//! One hand-written tower layer instead of one `from_fn` middleware per
//! check: axum wraps each layer around every route, and each `from_fn` layer
//! cost a clone of the route inside it, a boxed future and a `Next` per
//! request. Measured on reserve/return that was about a sixth of the
//! server's CPU per operation (README, "Second round"). The rules stay in
//! their own modules; this file only runs them in order.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::client_address::{ClientAddress, TrustedProxies};
use super::headers;
use super::origin::OriginPolicy;
use crate::shared::ShopError;

/// The layer: what the door checks against, set once at start.
#[derive(Clone)]
pub struct FrontDoor {
    origins: OriginPolicy,
    trusted_proxies: Arc<TrustedProxies>,
    /// Whether the shop is served over HTTPS (answers then carry HSTS).
    https: bool,
    body_limit: usize,
}

impl FrontDoor {
    pub fn new(
        origins: OriginPolicy,
        trusted_proxies: Arc<TrustedProxies>,
        https: bool,
        body_limit: usize,
    ) -> FrontDoor {
        FrontDoor {
            origins,
            trusted_proxies,
            https,
            body_limit,
        }
    }
}

impl<S> Layer<S> for FrontDoor {
    /// The body limit is axum's own layer, composed here rather than added
    /// to the router, so it costs no route of its own either.
    type Service = Door<<DefaultBodyLimit as Layer<S>>::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        Door {
            inner: DefaultBodyLimit::max(self.body_limit).layer(inner),
            door: self.clone(),
        }
    }
}

/// The door around one route.
#[derive(Clone)]
pub struct Door<S> {
    inner: S,
    door: FrontDoor,
}

impl<S> Service<Request> for Door<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // Who is asking, first: every limit behind the door counts by it.
        // A request that came over no connection (a test calling the router)
        // has no address; `ClientAddress::of` says so.
        if let Some(peer) = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        {
            let client = self.door.trusted_proxies.client(peer, request.headers());
            request.extensions_mut().insert(ClientAddress(client));
        }
        let https = self.door.https;
        if !self.door.origins.admits(&request) {
            // The refusal carries the same headers as any answer.
            return Answer::Refused {
                response: Some(ShopError::CrossOrigin.into_response()),
                https,
            };
        }
        Answer::Routed {
            inner: self.inner.call(request),
            https,
        }
    }
}

pin_project_lite::pin_project! {
    /// The route's answer (or the door's refusal), with the security headers
    /// added on its way out.
    #[project = AnswerProj]
    pub enum Answer<F> {
        Routed { #[pin] inner: F, https: bool },
        Refused { response: Option<Response>, https: bool },
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut response, https) = match self.project() {
            AnswerProj::Routed { inner, https } => {
                let Ok(response) = std::task::ready!(inner.poll(cx));
                (response, *https)
            }
            AnswerProj::Refused { response, https } => match response.take() {
                Some(response) => (response, *https),
                None => panic!("the door's refusal was polled after it was given"),
            },
        };
        headers::stamp(response.headers_mut(), https);
        Poll::Ready(Ok(response))
    }
}
