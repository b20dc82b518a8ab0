//! A tiny chat over pubsub-gateway: prints every message of a topic and publishes each line typed.
//!
//! ```text
//! cargo run --release                      # the gateway, in another terminal
//! cargo run -p pubsub-client --example chat -- ws://127.0.0.1:9080/embedded chat
//! ```

use pubsub_client::{connect, Event, Options, Start, Subscribe};
use tokio::io::AsyncBufReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9080/embedded".into());
    let topic = args.next().unwrap_or_else(|| "chat".into());

    let client = connect(&url, Options::default()).await?;
    let info = client.route_info().await?;
    println!("connected to {} ({})", info.route, info.scheme);

    // The last message, then new ones; after a reconnect the stream resumes where it stopped.
    let mut sub = client
        .subscribe(Subscribe::topic(&topic).start(Start::Last))
        .await?;
    tokio::spawn(async move {
        while let Some(event) = sub.recv().await {
            match event {
                Event::Message(m) => println!("> {}", String::from_utf8_lossy(&m.value)),
                Event::Reset { .. } => println!("(the room was recreated)"),
                Event::Error(e) => eprintln!("(resubscribing: {e})"),
                Event::Gap { count } => println!("({count} messages missed)"),
                Event::Ended { reason, .. } => println!("(closed by the gateway: {reason})"),
            }
        }
    });

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        client.publish(&topic, line).await?;
    }
    client.close().await;
    Ok(())
}
