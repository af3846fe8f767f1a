//! How a per-request check runs: on the way in it reads (and may mark or
//! refuse) the request; on the way out it stamps the answer. The front door
//! and the shopper cookie are the two checks.
//!
//! Written by hand rather than with `axum::middleware::from_fn`: axum wraps
//! each layer around every route, and each `from_fn` layer cost, per
//! request, a clone of the boxed route inside it, a boxed future and a
//! `Next`. On reserve/return that was about a sixth of the server's CPU per
//! operation (README, "Second round"). Here a check is one plain struct
//! around its route and one unboxed future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

/// A check every request of a router passes.
pub trait Checkpoint: Clone {
    /// What the way in hands to the way out.
    type Exit: Exit;

    /// The way in: the request goes on to its route (`Ok`) or is answered
    /// here (`Err`); either answer leaves through the exit.
    fn enter(&self, request: &mut Request) -> (Self::Exit, Result<(), Response>);
}

/// The way out of a [`Checkpoint`]: what it adds to the answer.
pub trait Exit {
    fn leave(self, response: &mut Response);
}

/// The layer that puts a checkpoint around every route of a router.
#[derive(Clone, Debug)]
pub struct Checked<C>(pub C);

impl<C: Checkpoint, S> Layer<S> for Checked<C> {
    type Service = CheckedRoute<C, S>;

    fn layer(&self, route: S) -> CheckedRoute<C, S> {
        CheckedRoute {
            checkpoint: self.0.clone(),
            route,
        }
    }
}

/// One route behind its checkpoint.
#[derive(Clone, Debug)]
pub struct CheckedRoute<C, S> {
    checkpoint: C,
    route: S,
}

impl<C, S> Service<Request> for CheckedRoute<C, S>
where
    C: Checkpoint,
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<C::Exit, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.route.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.checkpoint.enter(&mut request) {
            (exit, Ok(())) => Answer::Routed {
                answer: self.route.call(request),
                exit: Some(exit),
            },
            (exit, Err(refusal)) => Answer::Refused {
                refusal: Some((exit, refusal)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The route's answer, or the checkpoint's refusal, on its way out.
    #[project = AnswerProj]
    pub enum Answer<E, F> {
        Routed { #[pin] answer: F, exit: Option<E> },
        Refused { refusal: Option<(E, Response)> },
    }
}

impl<E, F> Future for Answer<E, F>
where
    E: Exit,
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        const DONE: &str = "a checkpoint's answer was polled after it was given";
        let (exit, mut response) = match self.project() {
            AnswerProj::Routed { answer, exit } => {
                let Ok(response) = std::task::ready!(answer.poll(cx));
                (exit.take().expect(DONE), response)
            }
            AnswerProj::Refused { refusal } => refusal.take().expect(DONE),
        };
        exit.leave(&mut response);
        Poll::Ready(Ok(response))
    }
}
