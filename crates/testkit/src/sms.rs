//! A stand-in for an organization's SMS gateway: an HTTP server on loopback that records
//! every request Sealroom's gateway adapter makes (headers and body), and answers 202.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

/// One request the gateway received.
#[derive(Debug, Clone)]
pub struct GatewayRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

pub struct SmsGateway {
    pub port: u16,
    received: Arc<Mutex<Vec<GatewayRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn record(
    State(received): State<Arc<Mutex<Vec<GatewayRequest>>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    received.lock().unwrap().push(GatewayRequest {
        authorization: header("authorization"),
        content_type: header("content-type"),
        body,
    });
    StatusCode::ACCEPTED
}

impl SmsGateway {
    pub async fn start() -> SmsGateway {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/send", post(record))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SmsGateway {
            port,
            received,
            task,
        }
    }

    /// The `sms.gateway_url` that reaches this gateway.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/send", self.port)
    }

    pub fn received(&self) -> Vec<GatewayRequest> {
        self.received.lock().unwrap().clone()
    }

    /// Wait (at most 10 s) for a request for which `pick` is true.
    pub async fn wait_for(&self, pick: impl Fn(&GatewayRequest) -> bool) -> GatewayRequest {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.received().into_iter().find(|r| pick(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no such SMS request arrived; received: {:#?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmsGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}
