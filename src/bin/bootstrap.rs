//! The AWS Lambda front door (`--features lambda`): reads the configuration once, then hands
//! each event to the library's handler. See `backup_audit::lambda` and the README's "Lambda".

use std::sync::Arc;

use backup_audit::lambda::{self, LambdaConfig};
use backup_audit::sinks::{S3Sinks, s3};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BACKUP_AUDIT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(false)
        .without_time() // CloudWatch stamps every line
        .init();
    // Lambda sends SIGTERM before it shuts an environment down: remove /tmp snapshots first.
    if let Err(e) = backup_audit::cleanup::install_signal_handler() {
        tracing::warn!("cannot install the SIGTERM handler: {e}");
    }
    let config = Arc::new(LambdaConfig::from_env(|k| std::env::var(k).ok())?);
    let client = s3::client(&config.aws).await;
    let sinks = S3Sinks::new(client, tokio::runtime::Handle::current(), config.s3.clone());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (config, sinks) = (config.clone(), sinks.clone());
        async move {
            lambda::invoke(event.payload, config, sinks, clock()).await.map_err(|e| {
                tracing::error!(error_type = e.kind(), "{e}");
                Diagnostic { error_type: e.kind().into(), error_message: e.to_string() }
            })
        }
    }))
    .await
}

/// The invocation's wall clock: the only clock read of the Lambda.
#[expect(clippy::disallowed_methods, reason = "the front door is where the clock becomes an input")]
fn clock() -> backup_audit::time::Millis {
    chrono::Utc::now().timestamp_millis()
}
