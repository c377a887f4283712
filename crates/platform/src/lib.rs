//! The bootstrap every DevOKR service shares: configuration, telemetry, the database pool and
//! migrations, a throwaway local PostgreSQL, the gRPC server with health, reflection and
//! graceful shutdown, the one mapping from service errors to gRPC statuses, pagination and
//! request helpers, and channels to peer services.

pub mod client;
pub mod db;
pub mod error;
pub mod fanout;
pub mod local_postgres;
pub mod outbox;
pub mod paging;
pub mod request;
pub mod server;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ServiceError, ServiceResult};
