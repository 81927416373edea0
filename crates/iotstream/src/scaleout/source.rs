//! Scale-out's side of the Kafka source, as a decorator around the consumer: each partition the
//! group assigns goes on from its saved state (the pipeline gets the state before the partition's
//! first message), and the merge log's reader runs beside the consumer, on its channels.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::error::Error;
use super::events::{Event, Queue};
use super::follower;
use super::state::StateReader;
use super::Group;
use crate::channel::{Source, SourceEvent};
use crate::connectors::kafka::source::{self as kafka, KafkaSourceArgs};
use crate::connectors::kafka::Assignment;
use crate::connectors::SourceOptions;

/// `analyze --kafka … --scale-out`: the consumer, decorated for the group `plan` describes.
/// What scale-out's threads find goes to the driver's hook through `news`.
pub fn open(
    args: &KafkaSourceArgs,
    options: &SourceOptions,
    group: &Group,
    news: &std::sync::mpsc::Sender<Event>,
) -> Result<Source, Error> {
    let mut config = kafka::config(args, false, options)?;
    let states = StateReader::new(&config.connection, &group.state_topic)?;
    config.assignment = Some(Box::new(TakeOver { states: Mutex::new(states), news: news.clone() }));
    let follower = group.follower(&config.connection);
    let news = news.clone();
    config.alongside = Some(Box::new(move |events, control| {
        let queue = Queue { news, ring: events.clone() };
        // It runs as long as the pipeline takes events: no handle to join.
        drop(
            follower::spawn(follower, queue, control.clone())
                .map_err(|e| crate::connectors::kafka::Error::Beside(Box::new(e)))?,
        );
        Ok(())
    }));
    Ok(kafka::start(config, options)?)
}

/// Partitions start from their saved states.
struct TakeOver {
    states: Mutex<StateReader>,
    /// The hook's queue (the ring goes to the consumer's events).
    news: std::sync::mpsc::Sender<Event>,
}

impl Assignment for TakeOver {
    /// Each assigned partition goes on from its saved state, if it has one, else from its start
    /// (its windows must be those of an owner that read it all).
    fn assign(&self, tpl: &mut TopicPartitionList, topic: &str, events: &mpsc::Sender<SourceEvent>) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let mut saved =
            self.states.lock().unwrap_or_else(|p| p.into_inner()).load(&partitions).unwrap_or_else(|error| {
                // Reading them all again gives the same windows, only later.
                tracing::warn!(
                    ?partitions,
                    "no saved states ({error:#}); reading the partitions from their start"
                );
                BTreeMap::new()
            });
        for partition in partitions {
            let start = match saved.remove(&partition) {
                Some(state) => {
                    let (next, windows) = (state.next, Box::new(state.windows));
                    let queue = Queue { news: self.news.clone(), ring: events.clone() };
                    queue.send(Event::Restored { partition, next, windows });
                    Offset::Offset(next)
                }
                None => Offset::Beginning,
            };
            let _ = tpl.set_partition_offset(topic, partition, start);
        }
    }
}
