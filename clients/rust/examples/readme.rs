//! The README's Rust example, kept here so that it compiles.

use pubsub_client::{connect, Event, Options, Publish, Start, Subscribe};

#[tokio::main]
async fn main() -> Result<(), pubsub_client::Error> {
    let client = connect("ws://127.0.0.1:9080/embedded", Options::default()).await?;
    let mut sub = client
        .subscribe(Subscribe::topic("chat").start(Start::Earliest))
        .await?;
    let at = client
        .produce(
            Publish::new("chat", "hello")
                .key("alice")
                .header("lang", "en"),
        )
        .await?;
    println!("stored at partition {} offset {}", at.partition, at.offset);
    while let Some(event) = sub.recv().await {
        match event {
            Event::Message(m) => {
                println!(
                    "{} {}: {}",
                    m.partition,
                    m.offset,
                    String::from_utf8_lossy(&m.value)
                );
                sub.commit_message(&m).await?;
                if (m.partition, m.offset) == (at.partition, at.offset) {
                    break;
                }
            }
            // The embedded broker restarted: the topic's log starts over.
            Event::Reset { topic, .. } => println!("{topic} was recreated"),
            Event::Error(e) => eprintln!("resubscribing: {e}"),
            Event::Gap { count } => eprintln!("{count} messages lost: reading too slowly"),
            // Closed by the gateway for good (route removed, token expired, ...): the stream ends.
            Event::Ended { code, reason } => eprintln!("closed by the gateway: {code} {reason}"),
        }
    }
    client.close().await;
    Ok(())
}
