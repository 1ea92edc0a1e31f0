//! Clearing an addon's retained messages at deprovision: the broker keeps a retained
//! message until someone publishes an empty one to its topic, and the plugin can neither
//! list nor remove them. A client of the addon's own (the sweeper, a credential no app is
//! handed) subscribes to the prefix, takes the retained messages the broker sends first,
//! and empties each topic; a marker it publishes to itself says when the broker has sent
//! all of them, and again when it has taken every empty one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rumqttc::{Event, Packet, QoS};

use super::control::{self, Waited};
use crate::providers::server::ServerSettings;
use crate::providers::{Access, Credential, ProviderError, Sort};

/// The credential that sweeps: a slot no attachment reaches, so deprovision finds and
/// removes its client with the others'.
pub(super) const SWEEPER: Credential = Credential { slot: u32::MAX, generation: 0, access: Access::ReadWrite };

/// Empties every retained message under `prefix`, logged in as `user`; how many there were.
pub(super) fn clear(
    server: &ServerSettings,
    (user, password): (&str, &str),
    prefix: &str,
    timeout: Duration,
    doing: &str,
) -> Result<usize, ProviderError> {
    let host = server.host()?;
    let (client, mut connection) = control::session(server, &host, (user, password), user);
    let hide = |err: ProviderError| err.hiding(password);
    if let Some(code) = control::connect(server, &mut connection, timeout, doing).map_err(hide)? {
        let what = format!("the broker refused the sweeping client's login ({code:?})");
        return Err(server.error(Sort::Transient, doing, &what, ""));
    }
    let closed = || server.error(Sort::Transient, doing, "the session closed", "");
    let marker = format!("{prefix}addons-sweep-{:016x}", rand::random::<u64>());
    client.subscribe(format!("{prefix}#"), QoS::AtLeastOnce).map_err(|_| closed())?;
    // What is to be published, sent as the client's queue takes it (it is bounded, and
    // only waiting for the broker empties it).
    let mut pending: VecDeque<(String, bool, &'static str)> = VecDeque::new();
    let (mut marked, mut swept) = (false, false);
    let mut retained = Vec::new();
    let mut deadline = Instant::now() + timeout;
    loop {
        while let Some((topic, retain, payload)) = pending.front() {
            if client.try_publish(topic.clone(), QoS::AtLeastOnce, *retain, *payload).is_err() {
                break;
            }
            pending.pop_front();
        }
        let event = match control::next(server, &mut connection, (deadline, timeout), doing)? {
            Waited::Event(event) => event,
            Waited::Refused(_) => return Err(closed()),
        };
        // The broker is answering: the time it may take runs from its last answer.
        deadline = Instant::now() + timeout;
        let Event::Incoming(packet) = event else { continue };
        match packet {
            // Sent once subscribed: the broker sends the retained messages before it.
            Packet::SubAck(_) if !marked => {
                marked = true;
                pending.push_back((marker.clone(), false, "1"));
            }
            Packet::Publish(message) if message.retain && !message.payload.is_empty() => {
                retained.push(message.topic);
            }
            Packet::Publish(message) if message.topic == marker && !swept => {
                // Every retained message came before it: empty each, then the marker again.
                swept = true;
                pending.extend(retained.iter().map(|topic| (topic.clone(), true, "")));
                pending.push_back((marker.clone(), false, "2"));
            }
            Packet::Publish(message) if message.topic == marker && message.payload == "2" => break,
            _ => {}
        }
    }
    let _ = client.try_disconnect();
    let _ = connection.recv_timeout(Duration::from_millis(50));
    Ok(retained.len())
}
