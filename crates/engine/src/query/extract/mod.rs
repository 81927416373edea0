//! One pass over a message for every query of a run: the fields any query reads (and the event
//! time) are pulled out of the JSON while the whole message is validated strictly, without
//! building a document — values nobody asked for are checked and skipped, never materialised.
//!
//! An [`Extractor`] is compiled from the union of the queries' field paths into a trie; the
//! scanner (`scan.rs`) walks the message once, descending only into objects on a wanted path.
//! A message is rejected for every query only as today: `too_large`, `not_utf8`, `empty`,
//! `malformed_json` (exactly the texts serde_json refuses, nesting depth unlimited as there),
//! `not_object`, and in event time a missing (`missing_field`), non-string (`wrong_type`),
//! repeated (`duplicate_field`) or unreadable (`bad_timestamp`) event time. Everything else
//! is a value per field, judged by each query on its own ([`Record::value`]): a missing field or
//! one on a path through something that is not an object is NULL, a field given twice (or an
//! object on its path given twice) is `duplicate_field` for the queries that read it.
//!
//! What the scanner produces is owned and compact ([`Records`]: a few 16-byte slots per
//! message, strings as positions in the message), so messages parsed on several threads can be
//! handed with their bytes to the one ordered stage that counts them.

mod fields;
mod read;
mod records;
mod scan;
mod shape;
mod trace;
mod verdict;

pub use fields::{Extractor, FieldPath, Slot};
pub use records::{Record, Records};
pub use verdict::extractor_agrees_with_serde_json;

#[cfg(test)]
mod tests;
