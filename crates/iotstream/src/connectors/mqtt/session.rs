//! One MQTT client connection over either of rumqttc's clients (3.1.1 and 5): requests queued,
//! sent while the network half is polled; a [`Publisher`] polling on a thread of its own; and the
//! [`Backoff`] between reconnections.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{TlsConfiguration, Transport};

use super::{Broker, Error, Version};

/// The largest packet accepted: MQTT's own limit (256 MB). The parser rejects long payloads as
/// too large; refusing them at the connection instead would drop it, and the broker would deliver
/// the same message again and again.
const MAX_PACKET: usize = 268_435_455;

/// Keep-alive ping interval: a dead connection is noticed within about 1.5 times this.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Requests (acknowledgements, publishes) queued for the connection: more than can be in flight,
/// so that acknowledging a whole checkpoint's messages never waits on the connection.
const REQUEST_CAPACITY: usize = 70_000;

/// How a session treats what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// The client acknowledges each QoS 1 message itself ([`Session::ack`]), when its effect is safe.
    Manual,
    /// rumqttc acknowledges on receipt (publishers, which receive nothing).
    Automatic,
}

/// A message received.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: bytes::Bytes,
    /// Packet id (QoS 1 and 2; reused by the broker once acknowledged: never a message's identity).
    pub pkid: u16,
    /// Quality of service it was delivered at (0, 1, 2).
    pub qos: u8,
    /// The broker sends it again (it was delivered before, and not acknowledged).
    pub dup: bool,
}

/// What a session reports.
#[derive(Debug)]
pub enum Incoming {
    /// Connected (again); `session_present`: the broker kept this client's session.
    Connected {
        /// The broker still had the session (subscriptions and queued messages).
        session_present: bool,
    },
    /// A message.
    Message(Message),
    /// A subscription was answered; `refused` filters were not granted.
    Subscribed {
        /// How many of the filters the broker refused.
        refused: usize,
    },
    /// The broker acknowledged a QoS 1 message published.
    Published,
    /// Nothing arrived within the wait.
    Quiet,
    /// A packet of no interest (a ping answer, an outgoing acknowledgement).
    Nothing,
}

/// The connection broke (it is retried by the next [`Session::poll`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Broken(String);

/// The session could not queue a request: its queue is full (requests leave as the session is
/// polled) or the connection's event loop is gone.
#[derive(Debug, thiserror::Error)]
#[error("the MQTT request queue is full or closed")]
pub struct Closed;

/// One MQTT client connection (either protocol version): requests (subscriptions,
/// acknowledgements, publishes) are queued, and sent while the network half is polled.
pub struct Session {
    requests: Requests,
    network: Network,
    /// Packet ids to acknowledge, waiting for room in the request queue (it empties as the
    /// session is polled).
    acks: VecDeque<u16>,
}

/// The request half of a session.
pub enum Requests {
    /// MQTT 3.1.1.
    V3(rumqttc::Client),
    /// MQTT 5.
    V5(rumqttc::v5::Client),
}

/// The network half of a session: polling it makes progress.
pub enum Network {
    /// MQTT 3.1.1 (boxed, like 5: both connections are large, and differ in size).
    V3(Box<rumqttc::Connection>),
    /// MQTT 5.
    V5(Box<rumqttc::v5::Connection>),
}

impl Broker {
    /// A session (not yet connected: the first poll connects) under `client_id`.
    pub fn session(&self, client_id: &str, acks: Acks) -> Session {
        let transport = self.transport();
        let manual = acks == Acks::Manual;
        let (host, port) = (self.url.host.clone(), self.url.port);
        match self.version {
            Version::V3 => {
                let mut options = rumqttc::MqttOptions::new(client_id, host, port);
                options
                    .set_keep_alive(KEEP_ALIVE)
                    .set_clean_session(false)
                    .set_manual_acks(manual)
                    .set_max_packet_size(MAX_PACKET, MAX_PACKET)
                    .set_request_channel_capacity(REQUEST_CAPACITY)
                    .set_inflight(u16::MAX)
                    .set_transport(transport);
                if let Some(user) = &self.url.user {
                    options.set_credentials(user, self.password.clone().unwrap_or_default());
                }
                let (client, connection) = rumqttc::Client::new(options, REQUEST_CAPACITY);
                Session::new(Requests::V3(client), Network::V3(Box::new(connection)))
            }
            Version::V5 => {
                let mut options = rumqttc::v5::MqttOptions::new(client_id, host, port);
                options
                    .set_keep_alive(KEEP_ALIVE)
                    .set_clean_start(false)
                    // The session outlives any outage: the broker keeps it (and queues messages)
                    // until iotstream comes back.
                    .set_session_expiry_interval(Some(u32::MAX))
                    // As many unacknowledged messages as packet ids allow: acknowledgements wait
                    // for checkpoints.
                    .set_receive_maximum(Some(u16::MAX))
                    .set_max_packet_size(Some(MAX_PACKET as u32))
                    .set_manual_acks(manual)
                    .set_request_channel_capacity(REQUEST_CAPACITY)
                    .set_outgoing_inflight_upper_limit(u16::MAX)
                    .set_transport(transport);
                if let Some(user) = &self.url.user {
                    options.set_credentials(user, self.password.clone().unwrap_or_default());
                }
                let (client, connection) = rumqttc::v5::Client::new(options, REQUEST_CAPACITY);
                Session::new(Requests::V5(client), Network::V5(Box::new(connection)))
            }
        }
    }

    fn transport(&self) -> Transport {
        if !self.url.tls {
            return Transport::Tcp;
        }
        Transport::Tls(match &self.ca {
            Some(ca) => TlsConfiguration::SimpleNative { ca: ca.clone(), client_auth: None },
            None => TlsConfiguration::Native,
        })
    }
}

impl Session {
    fn new(requests: Requests, network: Network) -> Session {
        Session { requests, network, acks: VecDeque::new() }
    }

    /// Waits up to `wait` for something from the broker (connecting first if needed); the
    /// acknowledgements waiting for room are queued first.
    pub fn poll(&mut self, wait: Duration) -> Result<Incoming, Broken> {
        self.send_acks();
        self.network.poll(wait)
    }

    /// Subscribes to `filters` at QoS 1.
    pub fn subscribe(&self, filters: &[String]) -> Result<(), Closed> {
        self.requests.subscribe(filters)
    }

    /// Acknowledges the QoS 1 message with packet id `pkid` (sent with the next polls, in
    /// order); never waits: when the request queue is full, it waits here for a later poll.
    pub fn ack(&mut self, pkid: u16) {
        self.acks.push_back(pkid);
        self.send_acks();
    }

    /// Queues the acknowledgements waiting, as far as the request queue has room.
    fn send_acks(&mut self) {
        while let Some(&pkid) = self.acks.front() {
            if self.requests.ack(pkid).is_err() {
                return;
            }
            self.acks.pop_front();
        }
    }

    /// Asks the broker to close the connection cleanly (sent with the next polls); never waits.
    pub fn disconnect(&self) -> Result<(), Closed> {
        self.requests.disconnect()
    }

    /// A clean end, within `patience`: the acknowledgements waiting go out, then a DISCONNECT
    /// (the broker keeps the session), and the broker closes the connection.
    pub fn close(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut disconnecting = false;
        while Instant::now() < deadline {
            self.send_acks();
            if !disconnecting && self.acks.is_empty() {
                disconnecting = self.disconnect().is_ok();
            }
            if self.network.poll(Duration::from_millis(50)).is_err() {
                return;
            }
        }
    }
}

impl Requests {
    fn subscribe(&self, filters: &[String]) -> Result<(), Closed> {
        let sent = match self {
            Requests::V3(client) => {
                let filters = filters
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.clone(), rumqttc::QoS::AtLeastOnce));
                client.subscribe_many(filters).is_ok()
            }
            Requests::V5(client) => {
                use rumqttc::v5::mqttbytes::{v5::Filter, QoS};
                client
                    .subscribe_many(filters.iter().map(|f| Filter::new(f.clone(), QoS::AtLeastOnce)))
                    .is_ok()
            }
        };
        sent.then_some(()).ok_or(Closed)
    }

    fn ack(&self, pkid: u16) -> Result<(), Closed> {
        let sent = match self {
            Requests::V3(client) => {
                let mut publish = rumqttc::Publish::new("", rumqttc::QoS::AtLeastOnce, Vec::new());
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
            Requests::V5(client) => {
                use rumqttc::v5::mqttbytes::{v5::Publish, QoS};
                let mut publish = Publish::new("", QoS::AtLeastOnce, Vec::new(), None);
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
        };
        sent.then_some(()).ok_or(Closed)
    }

    /// Queues a message to `topic` at `qos` (0 or 1), waiting while the request queue is full.
    fn publish(&self, topic: &str, qos: u8, payload: Vec<u8>) -> Result<(), Closed> {
        let sent = match self {
            Requests::V3(client) => {
                let qos = if qos == 0 { rumqttc::QoS::AtMostOnce } else { rumqttc::QoS::AtLeastOnce };
                client.publish(topic, qos, false, payload).is_ok()
            }
            Requests::V5(client) => {
                use rumqttc::v5::mqttbytes::QoS;
                let qos = if qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
                client.publish(topic, qos, false, payload).is_ok()
            }
        };
        sent.then_some(()).ok_or(Closed)
    }

    fn disconnect(&self) -> Result<(), Closed> {
        let sent = match self {
            Requests::V3(client) => client.try_disconnect().is_ok(),
            Requests::V5(client) => client.try_disconnect().is_ok(),
        };
        sent.then_some(()).ok_or(Closed)
    }
}

impl Network {
    fn poll(&mut self, wait: Duration) -> Result<Incoming, Broken> {
        match self {
            Network::V3(connection) => match connection.recv_timeout(wait) {
                Err(_) => Ok(Incoming::Quiet),
                Ok(Err(error)) => Err(Broken(error.to_string())),
                Ok(Ok(event)) => Ok(v3_incoming(event)),
            },
            Network::V5(connection) => match connection.recv_timeout(wait) {
                Err(_) => Ok(Incoming::Quiet),
                Ok(Err(error)) => Err(Broken(error.to_string())),
                Ok(Ok(event)) => Ok(v5_incoming(event)),
            },
        }
    }
}

fn v3_incoming(event: rumqttc::Event) -> Incoming {
    use rumqttc::{Event, Packet};
    match event {
        Event::Incoming(Packet::ConnAck(ack)) => Incoming::Connected { session_present: ack.session_present },
        Event::Incoming(Packet::Publish(p)) => Incoming::Message(Message {
            topic: p.topic,
            payload: p.payload,
            pkid: p.pkid,
            qos: p.qos as u8,
            dup: p.dup,
        }),
        Event::Incoming(Packet::SubAck(ack)) => Incoming::Subscribed {
            refused: ack
                .return_codes
                .iter()
                .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                .count(),
        },
        Event::Incoming(Packet::PubAck(_)) => Incoming::Published,
        _ => Incoming::Nothing,
    }
}

fn v5_incoming(event: rumqttc::v5::Event) -> Incoming {
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
    use rumqttc::v5::Event;
    match event {
        Event::Incoming(Packet::ConnAck(ack)) => Incoming::Connected { session_present: ack.session_present },
        Event::Incoming(Packet::Publish(p)) => Incoming::Message(Message {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload,
            pkid: p.pkid,
            qos: p.qos as u8,
            dup: p.dup,
        }),
        Event::Incoming(Packet::SubAck(ack)) => Incoming::Subscribed {
            refused: ack
                .return_codes
                .iter()
                .filter(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                .count(),
        },
        Event::Incoming(Packet::PubAck(_)) => Incoming::Published,
        _ => Incoming::Nothing,
    }
}

/// A session that only publishes: its network half is polled on a thread of its own (rumqttc
/// sends only while polled), which counts the broker's acknowledgements and reconnects with
/// backoff.
pub struct Publisher {
    requests: Requests,
    acked: Arc<AtomicU64>,
    /// Set before the DISCONNECT: the connection's end is expected, and ends the pump.
    closing: Arc<AtomicBool>,
    pump: Option<std::thread::JoinHandle<()>>,
}

impl Publisher {
    /// Connects `client_id` to `broker` for publishing.
    pub fn connect(broker: &Broker, client_id: &str) -> Result<Publisher, Error> {
        let Session { requests, mut network, .. } = broker.session(client_id, Acks::Automatic);
        let acked = Arc::new(AtomicU64::new(0));
        let closing = Arc::new(AtomicBool::new(false));
        let (counter, closed, url) = (Arc::clone(&acked), Arc::clone(&closing), broker.url.clone());
        let pump = std::thread::Builder::new()
            .name("mqtt-publisher".into())
            .spawn(move || {
                let mut backoff = Backoff::default();
                loop {
                    match network.poll(Duration::from_millis(100)) {
                        Ok(Incoming::Published) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Incoming::Connected { .. }) => backoff.reset(),
                        Ok(_) => {}
                        Err(_) if closed.load(Ordering::SeqCst) => return,
                        Err(error) => {
                            tracing::warn!(broker = %url, %error, "MQTT connection failed; retrying");
                            std::thread::sleep(backoff.next_wait());
                        }
                    }
                }
            })
            .map_err(|e| Error::Start("the MQTT publisher thread", e))?;
        Ok(Publisher { requests, acked, closing, pump: Some(pump) })
    }

    /// Queues a message (waiting while the queue is full).
    pub fn publish(&self, topic: &str, qos: u8, payload: Vec<u8>) -> Result<(), Closed> {
        self.requests.publish(topic, qos, payload)
    }

    /// QoS 1 messages the broker has acknowledged.
    pub fn acknowledged(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits until `expected` QoS 1 messages are acknowledged (or `patience` passes), then
    /// disconnects; false if some were not acknowledged in time.
    pub fn finish(mut self, expected: u64, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        while self.acknowledged() < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let complete = self.acknowledged() >= expected;
        self.closing.store(true, Ordering::SeqCst);
        // The pump sends the DISCONNECT while it polls, and ends when the broker closes; it is
        // queued behind every publish, so it waits for room.
        while self.requests.disconnect().is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
        complete
    }
}

/// Waits between reconnection attempts: doubling from 100 ms to 5 s, back to the start once a
/// connection succeeds.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Backoff::FIRST }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(5);

    /// How long to wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Backoff::MOST);
        wait
    }

    /// A connection succeeded.
    pub fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut backoff = Backoff::default();
        let waits: Vec<u128> = (0..8).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(100));
    }
}
