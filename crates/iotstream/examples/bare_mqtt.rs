//! The yardstick for `analyze --mqtt`: a bare rumqttc subscriber (the same client library and
//! session settings, acknowledging each message on receipt, no parsing, no engine) that drains
//! COUNT messages queued for its persistent session and reports messages per second.
//! `bench/mqtt.sh` runs it beside `iotstream analyze --mqtt` on the same broker.
//!
//!     cargo run --release --example bare_mqtt -- HOST PORT CLIENT_ID TOPIC COUNT [--prepare]
//!
//! `--prepare` only creates the session (subscribes) and leaves, so that the broker queues
//! what is published next.

use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, id, topic, count, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: bare_mqtt HOST PORT CLIENT_ID TOPIC COUNT [--prepare]");
    };
    let prepare = rest.iter().any(|a| a == "--prepare");
    let count: u64 = count.parse()?;
    let mut options = MqttOptions::new(id, host, port.parse()?);
    options
        .set_clean_start(false)
        .set_session_expiry_interval(Some(3600))
        .set_receive_maximum(Some(u16::MAX))
        .set_keep_alive(Duration::from_secs(10));
    let (client, mut connection) = Client::new(options, 1024);
    let started = Instant::now();
    let mut received = 0;
    for event in connection.iter() {
        match event? {
            Event::Incoming(Packet::ConnAck(_)) => client.subscribe(topic, QoS::AtLeastOnce)?,
            Event::Incoming(Packet::SubAck(_)) if prepare => break,
            Event::Incoming(Packet::Publish(_)) => {
                received += 1;
                if received == count {
                    break;
                }
            }
            _ => {}
        }
    }
    if !prepare {
        println!("{:.0}", received as f64 / started.elapsed().as_secs_f64());
    }
    Ok(())
}
