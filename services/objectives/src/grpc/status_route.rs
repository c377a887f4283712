//! `GetKeyResultStatus`, the call other services make far more often than any other, served
//! with the part of each status that does not change with time encoded once per change.
//!
//! A status's names, values and progress change only with its key result; its assessment
//! (health, expected progress, explanation) and evaluation time change with the instant
//! judged. The generated handler would copy the kept wire form of the status, fill the
//! assessment in, encode all of it and free it again on every read. This route keeps the
//! encoded bytes of the unchanging part with the key result's state and, on each read,
//! encodes only the assessment after them: the fields of concatenated protobuf encodings of
//! one message merge, so the client reads one `KeyResultStatus`. It serves the method's path
//! in front of the generated server, which serves every other method.

use std::{convert::Infallible, sync::Arc};

use devokr_proto::{
    codec::{SmallBufferCodec, buffer_settings},
    objectives::v1 as pb,
};
use prost::{Message, bytes::BufMut};
use tonic::{
    Request, Response, Status,
    codec::{BufferSettings, Codec, EncodeBuf, Encoder},
    codegen::{Body, BoxFuture, Context, Poll, Service, StdError, http},
    server::{Grpc, UnaryService},
};

use super::ObjectivesGrpc;

/// The path this route answers.
pub(super) const PATH: &str = "/devokr.objectives.v1.ObjectivesService/GetKeyResultStatus";

/// A status ready to be sent.
#[derive(Debug)]
pub(super) enum WireStatus {
    /// The current status: its unchanging part encoded before, and the fields that depend on
    /// the instant judged (every other field unset).
    Current {
        unchanging: prost::bytes::Bytes,
        judged: pb::KeyResultStatus,
    },
    /// A status as of a past read time, made whole for this read.
    Whole(pb::KeyResultStatus),
}

/// The route: the service's handlers, shared with the generated server.
#[derive(Debug, Clone)]
pub(super) struct StatusRoute(pub(super) Arc<ObjectivesGrpc>);

impl UnaryService<pb::GetKeyResultStatusRequest> for StatusRoute {
    type Response = WireStatus;
    type Future = BoxFuture<Response<WireStatus>, Status>;

    fn call(&mut self, request: Request<pb::GetKeyResultStatusRequest>) -> Self::Future {
        let handlers = Arc::clone(&self.0);
        Box::pin(async move { handlers.key_result_status(request).await })
    }
}

impl<B> Service<http::Request<B>> for StatusRoute
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
    B: Body<Data = prost::bytes::Bytes>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let route = self.clone();
        Box::pin(async move { Ok(Grpc::new(StatusCodec).unary(route, request).await) })
    }
}

/// Decodes requests as the generated server does; encodes [`WireStatus`].
#[derive(Debug, Clone, Copy, Default)]
struct StatusCodec;

/// The codec the generated server would use for this method.
type GeneratedCodec = SmallBufferCodec<pb::KeyResultStatus, pb::GetKeyResultStatusRequest>;

impl Codec for StatusCodec {
    type Encode = WireStatus;
    type Decode = pb::GetKeyResultStatusRequest;
    type Encoder = Self;
    type Decoder = <GeneratedCodec as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        Self
    }

    fn decoder(&mut self) -> Self::Decoder {
        GeneratedCodec::default().decoder()
    }
}

impl Encoder for StatusCodec {
    type Item = WireStatus;
    type Error = Status;

    fn encode(&mut self, status: WireStatus, buffer: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let encoded = match status {
            WireStatus::Current { unchanging, judged } => {
                buffer.put_slice(&unchanging);
                judged.encode(buffer)
            }
            WireStatus::Whole(status) => status.encode(buffer),
        };
        encoded.map_err(|error| Status::internal(format!("cannot encode a status: {error}")))
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}

#[cfg(test)]
mod tests {
    use devokr_proto::{common::v1 as common, prost_types::Timestamp};

    use super::*;

    fn decimal(text: &str) -> Option<common::Decimal> {
        Some(common::Decimal { value: text.into() })
    }

    /// A status as the service makes one, its fields set.
    fn whole() -> pb::KeyResultStatus {
        pb::KeyResultStatus {
            key_result: "tenants/acme/objectives/o1/keyResults/k1".into(),
            value: Some(pb::KeyResultValue {
                value: decimal("0.42"),
                ..Default::default()
            }),
            baseline: decimal("0.30"),
            target: decimal("0.50"),
            unit: 1,
            expected_progress: decimal("0.61"),
            health: 3,
            explanation: "progress 0.60 against 0.61 expected at day 55 of 90".into(),
            evaluation_time: Some(Timestamp {
                seconds: 1_770_000_000,
                nanos: 5,
            }),
            version: 7,
            objective: "tenants/acme/objectives/o1".into(),
            cycle: "tenants/acme/cycles/2026-q1".into(),
            kind: 1,
            ..Default::default()
        }
    }

    #[test]
    fn the_unchanging_bytes_and_the_judged_fields_read_as_the_whole_status() {
        let whole = whole();
        let judged = pb::KeyResultStatus {
            expected_progress: whole.expected_progress.clone(),
            health: whole.health,
            explanation: whole.explanation.clone(),
            evaluation_time: whole.evaluation_time,
            ..Default::default()
        };
        let unchanging = pb::KeyResultStatus {
            expected_progress: None,
            health: 0,
            explanation: String::new(),
            evaluation_time: None,
            ..whole.clone()
        };
        let mut sent = unchanging.encode_to_vec();
        judged.encode(&mut sent).expect("a Vec grows");
        assert_eq!(pb::KeyResultStatus::decode(sent.as_slice()), Ok(whole));
    }
}
