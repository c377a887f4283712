//! grpc.health.v1 (NOT_SERVING until the database is ready) and server reflection.

use std::time::{Duration, Instant};

use devokr_platform::{
    server::{CommonArgs, InProcess},
    testing::{TestDatabase, start_service},
};
use devokr_proto::{prost::Message, prost_types::FileDescriptorProto, tonic::transport::Channel};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

const SERVICE: &str = "devokr.objectives.v1.ObjectivesService";

/// The objectives service alone; its metrics peer is never called by these tests.
fn config(database_url: &str) -> devokr_objectives::Config {
    devokr_objectives::Config {
        common: CommonArgs::in_process(([127, 0, 0, 1], 0).into(), database_url),
        metrics_url: "http://127.0.0.1:1".into(),
        rejudge_interval_secs: devokr_objectives::DEFAULT_REJUDGE_INTERVAL_SECS,
    }
}

async fn check(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Status> {
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|response| response.into_inner().status())
}

/// Sends one reflection request and returns the one answer.
async fn reflect(channel: Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    answers
        .message()
        .await
        .expect("a reflection answer")
        .expect("one answer")
        .message_response
        .expect("a message response")
}

#[tokio::test]
async fn health_says_serving_once_started() {
    assert_eq!(SERVICE, devokr_objectives::SERVICE_NAME);
    let database = TestDatabase::create().await.unwrap();
    let config = config(database.url());
    let service = start_service(SERVICE, |listener, shutdown| {
        devokr_objectives::run(config, listener, shutdown)
    })
    .await
    .unwrap();
    let mut client = HealthClient::new(service.channel().unwrap());
    assert_eq!(
        check(&mut client, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        check(&mut client, SERVICE).await.unwrap(),
        ServingStatus::Serving
    );
    // A service the server does not have is not found, not serving.
    let status = check(&mut client, "devokr.nothing.v1.NothingService")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    service.stop().await.unwrap();
    drop(database);
}

#[tokio::test]
async fn health_says_not_serving_while_the_database_is_unreachable() {
    // Nothing listens on port 1: the database never answers.
    let config = config("postgres://x@127.0.0.1:1/x");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service = InProcess::spawn(SERVICE, listener, |listener, shutdown| {
        devokr_objectives::run(config, listener, shutdown)
    })
    .unwrap();
    let mut client = HealthClient::new(service.channel().unwrap());

    // The server answers health checks from the start, and keeps saying NOT_SERVING.
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut answers = 0;
    while Instant::now() < deadline {
        for name in ["", SERVICE] {
            let status = check(&mut client, name)
                .await
                .expect("health answers before readiness");
            assert_eq!(status, ServingStatus::NotServing, "{name:?}");
            answers += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers >= 10, "only {answers} health answers");

    // Stopping before it was ever ready is a clean, prompt shutdown.
    let stopping = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), service.stop())
        .await
        .expect("stop returns promptly")
        .expect("a service stopped before readiness exits cleanly");
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn reflection_lists_the_service_and_health() {
    let database = TestDatabase::create().await.unwrap();
    let config = config(database.url());
    let service = start_service(SERVICE, |listener, shutdown| {
        devokr_objectives::run(config, listener, shutdown)
    })
    .await
    .unwrap();

    let MessageResponse::ListServicesResponse(listed) = reflect(
        service.channel().unwrap(),
        MessageRequest::ListServices(String::new()),
    )
    .await
    else {
        panic!("not a list of services");
    };
    let names: Vec<&str> = listed
        .service
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    assert!(names.contains(&SERVICE), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    // The service's schema is there too, so a generic client can call it.
    let MessageResponse::FileDescriptorResponse(files) = reflect(
        service.channel().unwrap(),
        MessageRequest::FileContainingSymbol(SERVICE.into()),
    )
    .await
    else {
        panic!("not a file descriptor");
    };
    let methods: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .flat_map(|file| file.service)
        .filter(|service| service.name() == "ObjectivesService")
        .flat_map(|service| service.method)
        .map(|method| method.name().to_owned())
        .collect();
    assert!(
        methods.iter().any(|method| method == "GetKeyResultStatus"),
        "{methods:?}"
    );
    assert!(
        methods.iter().any(|method| method == "CreateCycle"),
        "{methods:?}"
    );

    service.stop().await.unwrap();
    drop(database);
}
