//! The shopper cookie: every visitor gets a shopper id, the one their cookie
//! names or a new one set on the response. And how every cookie of the shop
//! is named and marked: served over HTTPS (the `behind_https` setting),
//! cookies are `Secure` and take the `__Host-` prefix, so a browser never
//! sends them over plain HTTP nor lets a sibling domain set them.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::HeaderValue;
use axum::response::Response;
use tower::{Layer, Service};

use crate::server::inventory::shopper::ShopperId;

/// The cookie that names a web shopper.
pub const SHOPPER_COOKIE: &str = "livecart_shopper";
const COOKIE_MAX_AGE_SECS: u64 = 60 * 60 * 24 * 365;

/// Names and marks the shop's cookies for how the shop is served.
#[derive(Clone, Copy, Debug, Default)]
pub struct CookiePolicy {
    pub https: bool,
}

impl CookiePolicy {
    pub fn name(self, base: &str) -> String {
        if self.https {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// A `Set-Cookie` value: `attributes` besides Path=/ (and Secure).
    pub fn set(self, base: &str, value: &str, attributes: &str) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!("{}={value}; Path=/; {attributes}{secure}", self.name(base))
    }

    /// The request's value of the cookie named `base` under this policy.
    pub fn read(self, headers: &axum::http::HeaderMap, base: &str) -> Option<String> {
        cookie_value(headers, &self.name(base))
    }
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// Gives every visitor a shopper id: the one their cookie names, or a new one
/// set as an HttpOnly, SameSite=Lax cookie on the response. A tower layer of
/// its own rather than `from_fn`, for the reason the front door gives: no
/// clone of the route, boxed future or `Next` per request.
#[derive(Clone, Copy, Debug)]
pub struct ShopperCookie(pub CookiePolicy);

impl<S> Layer<S> for ShopperCookie {
    type Service = WithShopper<S>;

    fn layer(&self, inner: S) -> WithShopper<S> {
        WithShopper {
            inner,
            policy: self.0,
        }
    }
}

/// A page's (or server function's) route with its shopper found.
#[derive(Clone, Debug)]
pub struct WithShopper<S> {
    inner: S,
    policy: CookiePolicy,
}

impl<S> Service<Request> for WithShopper<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ShopperAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let existing = self
            .policy
            .read(request.headers(), SHOPPER_COOKIE)
            .and_then(|value| ShopperId::parse(&value));
        // A new shopper's cookie is made now and set when the answer comes.
        let fresh = match existing {
            Some(id) => {
                request.extensions_mut().insert(id);
                None
            }
            None => {
                let id = ShopperId::new_random();
                let cookie = self.policy.set(
                    SHOPPER_COOKIE,
                    id.as_str(),
                    &format!("Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax"),
                );
                request.extensions_mut().insert(id);
                HeaderValue::from_str(&cookie).ok()
            }
        };
        ShopperAnswer {
            inner: self.inner.call(request),
            fresh,
        }
    }
}

pin_project_lite::pin_project! {
    /// The route's answer, with a new shopper's cookie set on it.
    pub struct ShopperAnswer<F> {
        #[pin]
        inner: F,
        fresh: Option<HeaderValue>,
    }
}

impl<F> Future for ShopperAnswer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        if let Some(cookie) = this.fresh.take() {
            response.headers_mut().append(SET_COOKIE, cookie);
        }
        Poll::Ready(Ok(response))
    }
}
