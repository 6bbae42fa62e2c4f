//! Every AWS request a process sends, recorded as it goes on the wire with the function it
//! is made for, so that a test can ask an IAM policy simulator whether that function's role
//! allows it. Compiled only with the `call-recording` feature, which the tests enable and no
//! function or host does.

use std::sync::Mutex;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// One request as it was signed and sent.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// The function it was made for ([`record_as`]).
    pub function: String,
    pub method: String,
    pub uri: String,
    /// `X-Amz-Target` (the operation, in AWS's JSON protocols).
    pub target: Option<String>,
    /// `Authorization`: its SigV4 credential scope names the region and the service.
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

struct Recording {
    function: Option<String>,
    calls: Vec<RecordedCall>,
}

static RECORDING: Mutex<Recording> = Mutex::new(Recording {
    function: None,
    calls: Vec::new(),
});

fn recording() -> std::sync::MutexGuard<'static, Recording> {
    RECORDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// From now on, records every request as made for `function`; `None` stops recording.
pub fn record_as(function: Option<&str>) {
    recording().function = function.map(str::to_owned);
}

/// The requests recorded so far, which are forgotten.
pub fn take() -> Vec<RecordedCall> {
    std::mem::take(&mut recording().calls)
}

/// The interceptor every SDK client of the crate carries in recording builds.
#[derive(Debug)]
pub(crate) struct Recorder;

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut recording = recording();
        let Some(function) = recording.function.clone() else {
            return Ok(());
        };
        let request = context.request();
        let header = |name: &str| request.headers().get(name).map(str::to_owned);
        let call = RecordedCall {
            function,
            method: request.method().to_owned(),
            uri: request.uri().to_owned(),
            target: header("x-amz-target"),
            authorization: header("authorization"),
            body: request.body().bytes().unwrap_or_default().to_vec(),
        };
        recording.calls.push(call);
        Ok(())
    }
}
