//! The codec of every generated DevOKR server and client: prost's, with a small first encode
//! buffer.
//!
//! tonic's default encoder allocates an 8 KiB buffer per call and keeps it as long as the call
//! lives. A `WatchKeyResultStatus` stream lives for hours and sends a status of a few hundred
//! bytes now and then, so 10,000 streams would hold 80 MiB of mostly empty buffers. This one
//! starts at [`ENCODE_BUFFER_BYTES`] and grows on demand for a larger message (a long List
//! page), exactly as the default one grows beyond 8 KiB.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The first size of each call's encode buffer: a key-result status with its explanation
/// fits, as do most single resources.
pub const ENCODE_BUFFER_BYTES: usize = 1024;

/// Encoded bytes handed to the transport at once while a stream has more messages ready
/// (tonic's default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

/// The encode buffers of every DevOKR call, also of a hand-written encoder.
pub fn buffer_settings() -> BufferSettings {
    BufferSettings::new(ENCODE_BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

/// prost encoding with a small first encode buffer; named by the generated code.
#[derive(Debug, Clone, Copy)]
pub struct SmallBufferCodec<T, U> {
    messages: PhantomData<fn(T) -> U>,
}

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        Self {
            messages: PhantomData,
        }
    }
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::default().decoder()
    }
}
