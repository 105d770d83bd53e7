//! Load shedding: at most `max` calls are handled at once; past that a new
//! call is answered at once with RESOURCE_EXHAUSTED and a retry hint
//! (`retry-after-ms`) instead of queueing without bound. A stream holds
//! its place only until its response starts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;
use tonic::body::Body;
use tonic::Status;

/// The layer: one semaphore shared by every connection.
#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    max: usize,
}

impl ShedLayer {
    pub fn new(max: usize) -> ShedLayer {
        ShedLayer {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;
    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            permits: self.permits.clone(),
            max: self.max,
        }
    }
}

#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
    max: usize,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, Req> tower::Service<Req> for Shed<S>
where
    S: tower::Service<Req, Response = http::Response<Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let call = self.inner.call(req);
                Box::pin(async move {
                    let res = call.await;
                    drop(permit);
                    res
                })
            }
            Err(_) => {
                let mut status = Status::resource_exhausted(format!(
                    "the server is handling {} calls, its limit (`max_in_flight`); retry shortly",
                    self.max
                ));
                status.metadata_mut().insert(
                    "retry-after-ms",
                    tonic::metadata::MetadataValue::from_static("100"),
                );
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}
