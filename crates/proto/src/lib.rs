//! Generated protobuf types and gRPC stubs of every DevOKR service, the encoded descriptor
//! set for server reflection, and conversions between shared domain types and their wire form.

pub mod codec;
pub mod convert;

/// The do-nothing service the benchmark measures the server setup with.
pub mod bench {
    /// Version 1.
    #[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
    pub mod v1 {
        tonic::include_proto!("devokr.bench.v1");
    }
}

/// Types shared by every service.
pub mod common {
    /// Version 1.
    #[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
    pub mod v1 {
        tonic::include_proto!("devokr.common.v1");
    }
}

/// The metrics service: ingestion and metric evaluation.
pub mod metrics {
    /// Version 1.
    #[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
    pub mod v1 {
        tonic::include_proto!("devokr.metrics.v1");
    }
}

/// The objectives service: cycles, objectives, key results and their status.
pub mod objectives {
    /// Version 1.
    #[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
    pub mod v1 {
        tonic::include_proto!("devokr.objectives.v1");
    }
}

/// The roadmap service: roadmap items linked to key results.
pub mod roadmap {
    /// Version 1.
    #[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
    pub mod v1 {
        tonic::include_proto!("devokr.roadmap.v1");
    }
}

/// The encoded `FileDescriptorSet` of every DevOKR proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("devokr_descriptor");

pub use prost;
pub use prost_types;
pub use tonic;
